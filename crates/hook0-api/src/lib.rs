//! Hook0's REST API v1, wire-compatible with upstream Hook0: axum routes (one module per
//! resource), authentication (Biscuit sessions and service tokens, the master key, application
//! secrets) and authorization, rate limiting, problem+json errors.

mod auth;
mod client_ip;
mod cors;
mod error;
mod extract;
mod listener;
mod mail;
mod observe;
mod openapi;
mod passwords;
mod rate_limit;
pub mod relay;
mod router;
mod routes;
pub mod schemas;
mod state;
mod tokens;

pub use auth::{Action, Principal};
pub use client_ip::{ClientIp, ClientIpConfig};
pub use error::ApiError;
pub use listener::ConnectionLimits;
pub use mail::Mailer;
pub use rate_limit::{Limit, RateLimiting};
pub use router::{openapi, router, serve, serve_with, UNDOCUMENTED_ROUTES};
pub use state::{ApiConfig, AppState};
pub use tokens::BiscuitKey;
