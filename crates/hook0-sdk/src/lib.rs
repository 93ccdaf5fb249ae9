//! A Rust client for the Hook0 API, and the receiving side's signature check.
//!
//! ```
//! use hook0_sdk::Webhook;
//!
//! // A delivery as your endpoint receives it (upstream's reference vector).
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-event-id", "1a01cb48-5142-4d9b-8f90-d20cca61f0ee".parse().unwrap());
//! headers.insert("x-event-type", "service.resource.verb".parse().unwrap());
//! headers.insert("x-hook0-signature", "t=1636936200,h=x-event-id x-event-type,\
//!     v1=bc521546ba5de381b12f135782d2008b028c3065c191760b12b76850a8fc8f51".parse().unwrap());
//! let webhook = Webhook::new("secret"); // the subscription's secret
//! assert!(webhook.verify_at(&headers, b"hello !", 1_636_936_200).is_ok());
//! assert!(webhook.verify_at(&headers, b"tampered", 1_636_936_200).is_err());
//! ```
//!
//! Sending events, with an application secret (an API key) or a service token:
//!
//! ```no_run
//! # async fn send() -> Result<(), hook0_sdk::Error> {
//! use hook0_sdk::{Client, EventToSend};
//! let app: uuid::Uuid = "0190a7c4-0000-7000-8000-000000000000".parse().unwrap();
//! let client = Client::new("http://127.0.0.1:8080/api/v1", "<API key>")?;
//! client.upsert_event_types(app, &["billing.invoice.paid"]).await?;
//! let event = EventToSend::json("billing.invoice.paid", &serde_json::json!({ "id": 42 }), &[("tenant", "acme")]);
//! let sent = client.send_event(app, &event).await?;
//! println!("event {} sent", sent.event_id);
//! # Ok(()) }
//! ```
//!
//! Failed calls are [`Error`]s that say whether trying again can help
//! ([`Error::is_retryable`]); the client already retries those itself ([`RetryPolicy`]: four
//! attempts, backoff from 100 ms to 2 s, an integer `Retry-After` honoured within a 5 s budget).
//! With the `axum` feature, [`VerifiedWebhook`] refuses unsigned requests in a handler's
//! arguments.

mod client;
mod error;
#[cfg(feature = "axum")]
mod extract;
pub mod model;
mod resources;
mod retry;
mod webhook;

pub use client::Client;
pub use error::{Error, Problem};
#[cfg(feature = "axum")]
pub use extract::{Refused, VerifiedWebhook};
pub use model::{
    Application, AttemptQuery, Event, EventToSend, EventType, Ingested, Organization,
    RequestAttempt, Subscription, SubscriptionSpec, Target,
};
pub use retry::RetryPolicy;
pub use webhook::{Webhook, WebhookError, SIGNATURE_HEADER};
