//! The API's resources as typed values, with upstream's field names. Fields the SDK does not
//! name are kept in `extra`, so nothing the server sends is lost.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub organization_id: Uuid,
    pub name: String,
    /// Role, members, quotas and usage, when the answer carries them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub application_id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    /// Quotas, consumption and onboarding steps, when the answer carries them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventType {
    pub service_name: String,
    pub resource_type_name: String,
    pub verb_name: String,
    pub event_type_name: String,
    /// The JSON Schema its JSON payloads must match (this server's addition; absent upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Always `http`.
    #[serde(rename = "type", default = "http")]
    pub kind: String,
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn http() -> String {
    "http".into()
}

impl Target {
    /// A `POST` to `url` with no extra header.
    pub fn post(url: &str) -> Self {
        Self {
            kind: http(),
            method: "POST".into(),
            url: url.into(),
            headers: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub application_id: Uuid,
    pub subscription_id: Uuid,
    pub is_enabled: bool,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The HMAC key of `X-Hook0-Signature` (empty where the caller may not read it).
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub target: Target,
    /// Ordered delivery per key (a Hook0 addition): the event label whose value is the key.
    #[serde(default)]
    pub ordering_label: Option<String>,
    /// `hold` or `continue`: what a key does when its delivery becomes a dead letter.
    #[serde(default)]
    pub ordering_on_dead_letter: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a subscription is created or replaced with (`POST` and `PUT /subscriptions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSpec {
    pub application_id: Uuid,
    pub is_enabled: bool,
    pub event_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub labels: Labels,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub target: Target,
    /// Orders deliveries per value of this event label (`None`: left as it is on update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_label: Option<String>,
    /// `hold` (default) or `continue` past a key's dead letter (`None`: left as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_on_dead_letter: Option<String>,
}

impl From<&Subscription> for SubscriptionSpec {
    fn from(s: &Subscription) -> Self {
        Self {
            application_id: s.application_id,
            is_enabled: s.is_enabled,
            event_types: s.event_types.clone(),
            description: s.description.clone(),
            labels: s.labels.clone(),
            metadata: s.metadata.clone(),
            target: s.target.clone(),
            ordering_label: s.ordering_label.clone(),
            ordering_on_dead_letter: s.ordering_on_dead_letter.clone(),
        }
    }
}

/// An event to send. [`EventToSend::json`] builds the usual one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventToSend {
    /// Made on the client (UUIDv7) when `None`, so that a retried send is recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    pub event_type: String,
    /// Text, JSON text, or base64 for `application/octet-stream+base64`.
    pub payload: String,
    pub payload_content_type: String,
    pub labels: Labels,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Now when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

impl EventToSend {
    /// A JSON event of `event_type` with `labels`.
    pub fn json(event_type: &str, payload: &Value, labels: &[(&str, &str)]) -> Self {
        Self {
            event_id: None,
            event_type: event_type.into(),
            payload: payload.to_string(),
            payload_content_type: "application/json".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            metadata: BTreeMap::new(),
            occurred_at: None,
        }
    }
}

/// The answer to a send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ingested {
    pub application_id: Uuid,
    pub event_id: Uuid,
    /// `None` when a retried send found the event already stored by an earlier attempt.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: Uuid,
    pub event_type_name: String,
    pub payload_content_type: String,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Base64 of the stored bytes; only when one event is read.
    #[serde(default)]
    pub payload: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestAttempt {
    pub request_attempt_id: Uuid,
    pub event_id: Uuid,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub retry_count: i64,
    #[serde(default)]
    pub http_response_status: Option<i64>,
    #[serde(default)]
    pub response_id: Option<Uuid>,
    /// `{"type": "waiting" | "pending" | "inprogress" | "successful" | "failed", …}`.
    pub status: Value,
    /// `event`, `subscription`, `picked_at`, `failed_at`, `succeeded_at`, `delay_until`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RequestAttempt {
    /// The status's `type`.
    pub fn status_type(&self) -> &str {
        self.status["type"].as_str().unwrap_or_default()
    }
}

/// Filters of [`crate::Client::request_attempts`].
#[derive(Clone, Debug, Default)]
pub struct AttemptQuery {
    pub event_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    /// `waiting`, `pending`, `in_progress`, `successful`, `failed`, `dead_letter`.
    pub status: Option<String>,
}
