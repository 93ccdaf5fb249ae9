//! Who is calling, and may they do this? One extractor turns the `Authorization` header into a
//! [`Principal`]; one function per scope ([`Principal::authorize_app`],
//! [`Principal::authorize_org`], [`Principal::authorize_instance`]) decides, from the principal,
//! the route's [`Action`] and the resource's scope. Biscuit user sessions and service tokens will
//! be further `Principal` variants decided by the same functions.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use hook0_core::problem::ProblemId;
use hook0_store::ApplicationScope;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The instance's `MASTER_API_KEY`: every operation on every organization.
    Master,
    /// An application secret: every application-scoped action on its own application only.
    ApplicationSecret(ApplicationScope),
}

/// Upstream's action names (`resource:verb`); every route declares one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    OrganizationList,
    OrganizationCreate,
    OrganizationGet,
    OrganizationEdit,
    OrganizationDelete,
    ApplicationList,
    ApplicationCreate,
    ApplicationGet,
    ApplicationEdit,
    ApplicationDelete,
    ApplicationSecretList,
    ApplicationSecretCreate,
    ApplicationSecretEdit,
    ApplicationSecretDelete,
    EventTypeList,
    EventTypeCreate,
    EventTypeGet,
    EventTypeDelete,
    SubscriptionList,
    SubscriptionCreate,
    SubscriptionGet,
    SubscriptionEdit,
    SubscriptionDelete,
    EventList,
    EventGet,
    EventIngest,
    EventReplay,
    RequestAttemptList,
    RequestAttemptGet,
    ResponseGet,
    // Delivery protection (not in upstream's catalogue).
    SubscriptionSecretRotate,
    DeadLetterList,
    DeadLetterRedeliver,
    OperationalEventList,
}

impl Action {
    /// The upstream Datalog name, e.g. `event:ingest`.
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            OrganizationList => "organization:list",
            OrganizationCreate => "organization:create",
            OrganizationGet => "organization:get",
            OrganizationEdit => "organization:edit",
            OrganizationDelete => "organization:delete",
            ApplicationList => "application:list",
            ApplicationCreate => "application:create",
            ApplicationGet => "application:get",
            ApplicationEdit => "application:edit",
            ApplicationDelete => "application:delete",
            ApplicationSecretList => "application_secret:list",
            ApplicationSecretCreate => "application_secret:create",
            ApplicationSecretEdit => "application_secret:edit",
            ApplicationSecretDelete => "application_secret:delete",
            EventTypeList => "event_type:list",
            EventTypeCreate => "event_type:create",
            EventTypeGet => "event_type:get",
            EventTypeDelete => "event_type:delete",
            SubscriptionList => "subscription:list",
            SubscriptionCreate => "subscription:create",
            SubscriptionGet => "subscription:get",
            SubscriptionEdit => "subscription:edit",
            SubscriptionDelete => "subscription:delete",
            EventList => "event:list",
            EventGet => "event:get",
            EventIngest => "event:ingest",
            EventReplay => "event:replay",
            RequestAttemptList => "request_attempt:list",
            RequestAttemptGet => "request_attempt:get",
            ResponseGet => "response:get",
            SubscriptionSecretRotate => "subscription:rotate_secret",
            DeadLetterList => "dead_letter:list",
            DeadLetterRedeliver => "dead_letter:redeliver",
            OperationalEventList => "operational_event:list",
        }
    }
}

impl Principal {
    /// Authorizes an action on one application. Unknown or deleted applications answer 403, like
    /// a foreign one, so that ids cannot be probed (upstream does the same).
    pub async fn authorize_app(
        &self,
        state: &AppState,
        application_id: Uuid,
        action: Action,
    ) -> ApiResult<ApplicationScope> {
        let denied = || {
            tracing::debug!(action = action.name(), %application_id, "authorization denied");
            ApiError::forbidden()
        };
        match self {
            Principal::Master => state
                .store
                .application_scope(application_id)
                .await?
                .ok_or_else(denied),
            Principal::ApplicationSecret(scope) if scope.application_id == application_id => {
                Ok(*scope)
            }
            Principal::ApplicationSecret(_) => Err(denied()),
        }
    }

    /// Authorizes an action on an organization as a whole (application secrets never may).
    pub fn authorize_org(&self, organization_id: Uuid, action: Action) -> ApiResult<()> {
        match self {
            Principal::Master => Ok(()),
            Principal::ApplicationSecret(_) => {
                tracing::debug!(action = action.name(), %organization_id, "authorization denied");
                Err(ApiError::forbidden())
            }
        }
    }

    /// Authorizes an action that names no organization (listing or creating organizations).
    pub fn authorize_instance(&self, action: Action) -> ApiResult<()> {
        self.authorize_org(Uuid::nil(), action)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ProblemId::AuthNoAuthorizationHeader)?;
        let value = header
            .to_str()
            .map_err(|_| ProblemId::AuthInvalidAuthorizationHeader)?;
        let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
        let Ok(uuid) = Uuid::parse_str(token) else {
            return Err(ProblemId::AuthInvalidBiscuit.into());
        };
        if let Some(master) = state.config.master_api_key {
            if bool::from(master.as_bytes().ct_eq(uuid.as_bytes())) {
                return Ok(Principal::Master);
            }
        }
        if state.config.application_secret_compatibility {
            // Looked up by primary key; the database compares whole values.
            match state.store.application_by_secret(uuid).await {
                Ok(Some(scope)) => return Ok(Principal::ApplicationSecret(scope)),
                Ok(None) => {}
                Err(hook0_store::StoreError::Unavailable(_)) => {
                    return Err(ProblemId::ServiceUnavailable.into())
                }
                Err(_) => return Err(ProblemId::AuthApplicationSecretLookupError.into()),
            }
        }
        Err(ProblemId::AuthInvalidApplicationSecret.into())
    }
}
