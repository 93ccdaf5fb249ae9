//! One module per API resource. Handlers parse, authorize, call the store and shape the answer.

pub mod application_secrets;
pub mod applications;
pub mod auth;
pub mod dead_letters;
pub mod email_links;
pub mod event_types;
pub mod events;
pub mod events_per_day;
pub mod instance;
pub mod members;
pub mod metrics;
pub mod operational_events;
pub mod ordering_keys;
pub mod organizations;
pub mod portal;
pub mod portal_sessions;
pub mod quotas;
pub mod register;
pub mod request_attempts;
pub mod service_tokens;
pub mod subscriptions;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The `?application_id=` (or `{"application_id"}` body) most app-scoped routes take.
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[schema(as = ReplayEvent)]
pub struct ByApplication {
    pub application_id: Uuid,
}
