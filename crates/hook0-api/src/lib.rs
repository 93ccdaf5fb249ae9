//! Hook0's REST API v1, wire-compatible with upstream Hook0: axum routes (one module per
//! resource), authentication and authorization, problem+json errors.

mod auth;
mod error;
mod extract;
mod observe;
mod openapi;
mod router;
mod routes;
mod state;

pub use auth::{Action, Principal};
pub use error::ApiError;
pub use router::{openapi, router, serve, UNDOCUMENTED_ROUTES};
pub use state::{ApiConfig, AppState};
