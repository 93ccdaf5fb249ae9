//! `/portal/…` (ours): the API of the consumer portal, used by our own portal pages and open to
//! a sender's own front end. The caller is a customer holding a portal session's secret as
//! `Authorization: Bearer h0portal_…` ([`PortalAccess`]); everything is confined to the session's
//! scope on the server: its application, and the subscriptions carrying all its labels. A
//! subscription, attempt or event outside the scope answers exactly like one that does not
//! exist (404), and an action the session's capabilities do not grant is 403 `Forbidden`.

mod deliveries;
mod subscriptions;

pub use deliveries::*;
pub use subscriptions::*;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use hook0_core::model::{StringMap, Subscription};
use hook0_core::portal::{self, Capability, PortalSession, PortalTheme, SessionState};
use hook0_core::problem::ProblemId;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::bearer;
use crate::error::{ApiError, ApiResult};
use crate::routes::event_types::EventTypeBody;
use crate::state::AppState;

/// A customer's live portal session.
pub struct PortalAccess(pub PortalSession);

impl PortalAccess {
    /// Refuses an action the session does not grant.
    pub fn require(&self, capability: Capability) -> ApiResult<()> {
        if self.0.allows(capability) {
            Ok(())
        } else {
            tracing::debug!(
                capability = capability.as_str(),
                "portal capability not granted"
            );
            Err(ApiError::forbidden())
        }
    }

    /// The subscription `id` when it is live and inside the scope; 404 otherwise, the same
    /// answer for another tenant's subscription as for none.
    pub async fn subscription(&self, state: &AppState, id: Uuid) -> ApiResult<Subscription> {
        state
            .store
            .get_subscription(id)
            .await?
            .filter(|s| self.0.covers(s))
            .ok_or_else(ApiError::not_found)
    }
}

fn invalid(detail: &str) -> ApiError {
    ApiError::detail(ProblemId::AuthInvalidBiscuit, detail)
}

impl FromRequestParts<AppState> for PortalAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let secret = bearer(&parts.headers)?;
        if !portal::looks_like_secret(secret) {
            return Err(invalid("This is not a portal session secret."));
        }
        let session = state
            .store
            .portal_session_by_secret(&portal::hash_secret(secret))
            .await?
            .ok_or_else(|| invalid("This portal link is not valid."))?;
        match session.state_at(state.config.clock.now()) {
            SessionState::Live => Ok(PortalAccess(session)),
            SessionState::Expired => Err(invalid(
                "This portal session has expired. Ask for a new link where you found this one.",
            )),
            SessionState::Revoked => Err(invalid(
                "This portal session was revoked. Ask for a new link where you found this one.",
            )),
        }
    }
}

/// What the session lets its holder see and do.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalSessionInfo)]
pub struct SessionBody {
    portal_session_id: Uuid,
    application_id: Uuid,
    application_name: String,
    labels: StringMap,
    /// Granted capabilities, `view` always included.
    capabilities: Vec<Capability>,
    theme: PortalTheme,
    /// Origins whose pages may frame the portal.
    allowed_origins: Vec<String>,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/portal/session",
    operation_id = "portal.session",
    tag = "portal",
    security(("portal_session" = [])),
    responses(
        (status = 200, description = "The caller's session", body = SessionBody),
        (status = 403, description = "Unknown, expired or revoked session (`AuthInvalidBiscuit`, the detail says which)"),
    )
)]
pub async fn session(
    State(state): State<AppState>,
    access: PortalAccess,
) -> ApiResult<axum::Json<SessionBody>> {
    let s = access.0;
    let application = state
        .store
        .get_application(s.application_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let capabilities = Capability::ALL
        .into_iter()
        .filter(|c| s.allows(*c))
        .collect();
    Ok(axum::Json(SessionBody {
        portal_session_id: s.id,
        application_id: s.application_id,
        application_name: application.name,
        labels: s.labels,
        capabilities,
        theme: s.theme,
        allowed_origins: s.allowed_origins,
        expires_at: s.expires_at,
    }))
}

#[utoipa::path(
    get,
    path = "/portal/event_types",
    operation_id = "portal.eventTypes",
    tag = "portal",
    security(("portal_session" = [])),
    responses((status = 200, description = "The application's event types, to subscribe to", body = Vec<EventTypeBody>))
)]
pub async fn event_types(
    State(state): State<AppState>,
    access: PortalAccess,
) -> ApiResult<axum::Json<Vec<EventTypeBody>>> {
    access.require(Capability::View)?;
    let types = state
        .store
        .list_event_types(access.0.application_id)
        .await?;
    Ok(axum::Json(types.into_iter().map(Into::into).collect()))
}
