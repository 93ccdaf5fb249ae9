//! Who is calling, and may they do this? The one place where both are decided.
//!
//! The extractor turns `Authorization: Bearer <token>` into a [`Principal`]: the master key, an
//! application secret (both UUIDs), or a Biscuit signed by this instance whose root revocation
//! id is live in the store: a user session (`user_access`) or a service token (`service_access`,
//! possibly attenuated by its holder). Missing header: 401; anything else unusable (garbage,
//! another key, expired, revoked, a refresh token): 403 `AuthInvalidBiscuit`.
//!
//! Each handler then asks one decision function, with its route's [`Action`] and the resource's
//! scope: [`Principal::authorize_app`], [`Principal::authorize_org`],
//! [`Principal::authorize_instance`] or [`Principal::user_session`]. The master key may do
//! anything; an application secret anything on its own application; Biscuit principals go
//! through the Datalog authorizer ([`datalog`]), which applies roles (editor: everything,
//! viewer: reads), organization scoping, and every check the token carries. An unknown
//! application or organization is refused like a foreign one (403), so ids cannot be probed.

mod action;
mod datalog;
pub(crate) mod token_budget;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use biscuit_auth::Biscuit;
use hook0_core::identity::TokenKind;
use hook0_core::model::now;
use hook0_core::problem::ProblemId;
use hook0_store::{ApplicationScope, StoreError};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use action::Action;
pub use datalog::Detail;
pub(crate) use datalog::{authorize_own_use, Refusal};

use crate::error::{ApiError, ApiResult};
use crate::rate_limit::Limiters;
use crate::state::AppState;
use crate::tokens;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub enum Principal {
    /// The instance's `MASTER_API_KEY`: every operation on every organization.
    Master,
    /// An application secret: every application-scoped action on its own application only.
    ApplicationSecret(ApplicationScope),
    /// A user session's access token.
    User(UserSession),
    /// An organization's service token, or a token attenuated from one.
    ServiceToken(ServiceToken),
}

/// A logged-in user, from a `user_access` Biscuit.
#[derive(Clone)]
pub struct UserSession {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub token_id: Uuid,
    token: Arc<Biscuit>,
    budget: Duration,
}

/// A service token (`service_access` Biscuit) of one organization.
#[derive(Clone)]
pub struct ServiceToken {
    pub token_id: Uuid,
    pub organization_id: Uuid,
    token: Arc<Biscuit>,
    budget: Duration,
}

/// Ids only: a token is a credential and never reaches logs.
impl fmt::Debug for UserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSession")
            .field("user_id", &self.user_id)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceToken")
            .field("token_id", &self.token_id)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

fn denied(action: Action) -> ApiError {
    tracing::debug!(action = action.name(), "authorization denied");
    ApiError::forbidden()
}

impl Principal {
    /// The Biscuit and authorizer budget of a Biscuit principal.
    fn biscuit(&self) -> Option<(&Arc<Biscuit>, Duration)> {
        match self {
            Principal::User(s) => Some((&s.token, s.budget)),
            Principal::ServiceToken(s) => Some((&s.token, s.budget)),
            Principal::Master | Principal::ApplicationSecret(_) => None,
        }
    }

    /// Runs the Datalog authorizer for a Biscuit principal. An attenuated token (more than
    /// its authority block) never reads or mints credentials.
    async fn run_authorizer(
        &self,
        action: Action,
        organization_id: Option<Uuid>,
        application_id: Option<Uuid>,
        details: &[Detail<'_>],
    ) -> ApiResult<()> {
        let Some((token, budget)) = self.biscuit() else {
            return Err(denied(action));
        };
        if action.handles_credentials() && token.block_count() > 1 {
            tracing::debug!(
                action = action.name(),
                "an attenuated token may not read or mint credentials"
            );
            return Err(denied(action));
        }
        let request = datalog::Request {
            action: action.name(),
            organization_id,
            application_id,
            viewer_allowed: action.viewer_allowed(),
            details,
        };
        match datalog::authorize_pooled(token.clone(), &request, budget).await {
            Ok(()) => Ok(()),
            Err(datalog::Refusal::Denied) => Err(denied(action)),
            Err(datalog::Refusal::Timeout) => {
                tracing::warn!(
                    action = action.name(),
                    ?budget,
                    "authorization ran out of time (MAX_AUTHORIZATION_TIME)"
                );
                Err(ProblemId::ServiceUnavailable.into())
            }
        }
    }

    /// Authorizes an action on one application; returns the application's scope.
    pub async fn authorize_app(
        &self,
        state: &AppState,
        application_id: Uuid,
        action: Action,
    ) -> ApiResult<ApplicationScope> {
        self.authorize_app_with(state, application_id, action, &[])
            .await
    }

    /// [`Principal::authorize_app`] with facts about the resource (upstream's
    /// `subscription_id`, `labels`, `event_type_names`), which attenuated tokens may check.
    pub async fn authorize_app_with(
        &self,
        state: &AppState,
        application_id: Uuid,
        action: Action,
        details: &[Detail<'_>],
    ) -> ApiResult<ApplicationScope> {
        match self {
            Principal::ApplicationSecret(scope) if scope.application_id == application_id => {
                Ok(*scope)
            }
            Principal::ApplicationSecret(_) => Err(denied(action)),
            Principal::Master | Principal::User(_) | Principal::ServiceToken(_) => {
                let scope = state
                    .store
                    .application_scope(application_id)
                    .await?
                    .ok_or_else(|| denied(action))?;
                if !matches!(self, Principal::Master) {
                    self.run_authorizer(
                        action,
                        Some(scope.organization_id),
                        Some(application_id),
                        details,
                    )
                    .await?;
                }
                Ok(scope)
            }
        }
    }

    /// Authorizes an action on an organization as a whole (application secrets never may).
    pub async fn authorize_org(&self, organization_id: Uuid, action: Action) -> ApiResult<()> {
        self.authorize_org_with(organization_id, action, &[]).await
    }

    /// [`Principal::authorize_org`] with facts about the resource (`service_token_id`).
    pub async fn authorize_org_with(
        &self,
        organization_id: Uuid,
        action: Action,
        details: &[Detail<'_>],
    ) -> ApiResult<()> {
        match self {
            Principal::Master => Ok(()),
            Principal::ApplicationSecret(_) => Err(denied(action)),
            Principal::User(_) | Principal::ServiceToken(_) => {
                self.run_authorizer(action, Some(organization_id), None, details)
                    .await
            }
        }
    }

    /// Authorizes an action that names no organization (listing or creating organizations,
    /// the caller's own session).
    pub async fn authorize_instance(&self, action: Action) -> ApiResult<()> {
        match self {
            Principal::Master
                if !matches!(action, Action::AuthLogout | Action::AuthChangePassword) =>
            {
                Ok(())
            }
            Principal::Master | Principal::ApplicationSecret(_) => Err(denied(action)),
            Principal::ServiceToken(_) if action.user_only() => Err(denied(action)),
            Principal::User(_) | Principal::ServiceToken(_) => {
                self.run_authorizer(action, None, None, &[]).await
            }
        }
    }

    /// Authorizes a user-only action and returns the session (logout, password change).
    pub async fn user_session(&self, action: Action) -> ApiResult<&UserSession> {
        match self {
            Principal::User(session) => {
                self.authorize_instance(action).await?;
                Ok(session)
            }
            _ => Err(denied(action)),
        }
    }
}

/// The token of `Authorization: Bearer <token>` (the `Bearer ` prefix is optional, as
/// upstream's).
pub(crate) fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or(ProblemId::AuthNoAuthorizationHeader)?;
    // A token longer than any we accept is refused before anything else looks at it.
    if header.len() > token_budget::MAX_TOKEN_CHARS + "Bearer ".len() + 2 {
        return Err(ProblemId::AuthInvalidBiscuit.into());
    }
    let value = header
        .to_str()
        .map_err(|_| ProblemId::AuthInvalidAuthorizationHeader)?;
    Ok(value.strip_prefix("Bearer ").unwrap_or(value).trim())
}

/// A store failure while checking a credential: 503 when the database is unavailable, else the
/// lookup's own 500 problem.
fn lookup_failure(error: StoreError, problem: ProblemId) -> ApiError {
    match error {
        StoreError::Unavailable(_) => ProblemId::ServiceUnavailable.into(),
        other => {
            tracing::error!(error = %other, "credential lookup failed");
            problem.into()
        }
    }
}

async fn authenticate(token: &str, state: &AppState) -> ApiResult<(Principal, Vec<u8>)> {
    let bearer_text = token;
    if let Ok(uuid) = Uuid::parse_str(token) {
        if let Some(master) = state.config.master_api_key {
            if bool::from(master.as_bytes().ct_eq(uuid.as_bytes())) {
                return Ok((Principal::Master, uuid.as_bytes().to_vec()));
            }
        }
        if state.config.application_secret_compatibility {
            // Looked up by primary key; the database compares whole values.
            match state.store.application_by_secret(uuid).await {
                Ok(Some(scope)) => {
                    return Ok((
                        Principal::ApplicationSecret(scope),
                        uuid.as_bytes().to_vec(),
                    ))
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(lookup_failure(
                        e,
                        ProblemId::AuthApplicationSecretLookupError,
                    ))
                }
            }
        }
        return Err(ProblemId::AuthInvalidApplicationSecret.into());
    }
    let key = &state.config.biscuit_key;
    let (token, known) = match tokens::recently_verified(key, token) {
        Some(known) => (known, true),
        None => (
            Arc::new(tokens::parse(key, token).ok_or(ProblemId::AuthInvalidBiscuit)?),
            false,
        ),
    };
    let revocation_id = tokens::revocation_id(&token);
    let record = state
        .store
        .live_token(&revocation_id, now())
        .await
        .map_err(|e| lookup_failure(e, ProblemId::AuthBiscuitLookupError))?
        .ok_or(ProblemId::AuthInvalidBiscuit)?;
    if !known {
        // Remembered only once signed, bounded in cost and live: nothing else takes memory.
        tokens::remember_verified(key, bearer_text, token.clone());
    }
    let budget = state.config.max_authorization_time;
    let principal = match (
        record.kind,
        record.user_id,
        record.session_id,
        record.organization_id,
    ) {
        (TokenKind::UserAccess, Some(user_id), Some(session_id), _) => {
            Principal::User(UserSession {
                user_id,
                session_id,
                token_id: record.id,
                token,
                budget,
            })
        }
        (TokenKind::ServiceAccess, _, _, Some(organization_id)) => {
            Principal::ServiceToken(ServiceToken {
                token_id: record.id,
                organization_id,
                token,
                budget,
            })
        }
        // A refresh token is only good for `POST /auth/refresh`.
        _ => return Err(ProblemId::AuthInvalidBiscuit.into()),
    };
    Ok((principal, revocation_id))
}

impl FromRequestParts<AppState> for Principal {
    /// A problem; a 429 carries `Retry-After`, hence a whole response.
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let token = bearer(&parts.headers).map_err(IntoResponse::into_response)?;
        let (principal, rate_key) = authenticate(token, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // The per-token limit applies once the token is known good (upstream's order).
        if let Some(limiters) = parts.extensions.get::<Arc<Limiters>>() {
            limiters.check_token(rate_key)?;
        }
        Ok(principal)
    }
}
