//! `/auth/*` sessions: logging in opens a session of two Biscuits, a 5-minute access token and a
//! 30-minute refresh token, both stored; refreshing uses the refresh token once and issues a new
//! pair in the same session; logging out expires the whole session. The mailed links (email
//! verification, password reset) are in [`crate::routes::email_links`].

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use hook0_core::identity::{normalize_email, TokenKind, User};
use hook0_core::model::now;
use hook0_core::password::{self, Owner};
use hook0_core::problem::ProblemId;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{self, Action, Principal, Refusal};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::passwords;
use crate::state::AppState;
use crate::tokens;

/// Upstream's `LoginResponse`.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    access_token: String,
    access_token_expiration: DateTime<Utc>,
    refresh_token: String,
    refresh_token_expiration: DateTime<Utc>,
    user_id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "token minting failed");
    ApiError::new(ProblemId::InternalServerError)
}

/// Mints an access and a refresh token for a new session of `user`, in the same session when
/// `session_id` is given.
fn mint_pair(
    state: &AppState,
    user: &User,
    roles: &[(Uuid, hook0_core::identity::Role)],
    session_id: Uuid,
) -> ApiResult<(tokens::Minted, tokens::Minted)> {
    let at = now();
    let key = &state.config.biscuit_key;
    let access = tokens::user_access(key, session_id, user, roles, at).map_err(internal)?;
    let refresh = tokens::refresh(key, session_id, user.id, at).map_err(internal)?;
    Ok((access, refresh))
}

fn login_response(user: &User, access: tokens::Minted, refresh: tokens::Minted) -> LoginResponse {
    LoginResponse {
        access_token_expiration: access.record.expired_at.unwrap_or_default(),
        access_token: access.biscuit,
        refresh_token_expiration: refresh.record.expired_at.unwrap_or_default(),
        refresh_token: refresh.biscuit,
        user_id: user.id,
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
    }
}

/// Opens a new session for a verified user.
pub(crate) async fn open_session(state: &AppState, user: &User) -> ApiResult<LoginResponse> {
    let roles = state.store.organization_roles(user.id).await?;
    let (access, refresh) = mint_pair(state, user, &roles, Uuid::new_v4())?;
    state
        .store
        .insert_tokens(&[access.record.clone(), refresh.record.clone()])
        .await?;
    Ok(login_response(user, access, refresh))
}

/// A password's length for a 422, without echoing the password.
pub(crate) fn check_secret_len(
    errors: &mut ValidationErrors,
    field: &str,
    value: &str,
    max: usize,
) {
    let len = value.chars().count();
    if len < 1 || len > max {
        errors.add(field, "length", json!({ "min": 1, "max": max }));
    }
    errors.check_no_nul(field, value);
}

/// A syntactically valid email address of at most 100 characters.
pub(crate) fn check_email(errors: &mut ValidationErrors, field: &str, value: &str) {
    errors.check_len(field, value, 1, 100);
    if value.trim().parse::<lettre::Address>().is_err() {
        errors.add(field, "email", json!({ "value": value }));
    }
}

/// Checks a new password against the instance's policy (400 with the rule's problem id).
pub(crate) fn check_password_policy(
    state: &AppState,
    new_password: &str,
    user: Owner<'_>,
) -> ApiResult<()> {
    password::check(new_password, state.config.password_minimum_length, user).map_err(ApiError::new)
}

#[derive(Deserialize, ToSchema)]
pub struct LoginPost {
    email: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "auth.login",
    tag = "auth",
    request_body = LoginPost,
    responses((status = 201, description = "A new session", body = LoginResponse)),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginPost>,
) -> ApiResult<(StatusCode, axum::Json<LoginResponse>)> {
    let mut errors = ValidationErrors::default();
    errors.check_len("email", &body.email, 1, 100);
    check_secret_len(&mut errors, "password", &body.password, 100);
    errors.into_result()?;
    let user = state
        .store
        .user_by_email(&normalize_email(&body.email))
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    if !passwords::verify(body.password, hash).await? {
        return Err(ProblemId::AuthFailedLogin.into());
    }
    let user = user.expect("a password verified against a user");
    if user.email_verified_at.is_none() {
        return Err(ProblemId::AuthEmailNotVerified.into());
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(open_session(&state, &user).await?),
    ))
}

/// The Bearer of `POST /auth/refresh`, checked as a refresh token.
async fn refresh_token(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<hook0_core::identity::TokenRecord> {
    let failed = || ApiError::new(ProblemId::AuthFailedRefresh);
    let token = auth::bearer(headers)?;
    let biscuit = tokens::parse(&state.config.biscuit_key, token).ok_or_else(failed)?;
    let own = match auth::authorize_own_use(
        &biscuit,
        TokenKind::Refresh.as_str(),
        state.config.max_authorization_time,
    ) {
        Ok(own) => own,
        Err(Refusal::Timeout) => return Err(ProblemId::ServiceUnavailable.into()),
        Err(Refusal::Denied) => return Err(failed()),
    };
    let record = state
        .store
        .live_token(&tokens::revocation_id(&biscuit), now())
        .await?
        .filter(|r| r.kind == TokenKind::Refresh);
    match record {
        Some(record) => Ok(record),
        None => {
            // Signed by us and within its lifetime, yet spent: a refresh token used twice.
            // Spent within the last minute, it is most likely the same client renewing twice
            // at once (two tabs, a page and its polling): refused, nothing more. Later, one of
            // its two holders stole it: the whole session ends, theirs and ours.
            let revocation_id = tokens::revocation_id(&biscuit);
            let recently_spent = state
                .store
                .live_token(
                    &revocation_id,
                    now()
                        - chrono::Duration::from_std(state.config.refresh_reuse_grace)
                            .unwrap_or_default(),
                )
                .await?
                .is_some();
            if recently_spent {
                return Err(failed());
            }
            if let Some(session_id) = own.session_id {
                let ended = state.store.expire_session(session_id, now()).await?;
                if ended > 0 {
                    tracing::warn!(%session_id, user_id = %own.user_id, "a spent refresh token was replayed: session ended");
                }
            }
            Err(failed())
        }
    }
}

#[utoipa::path(
    post,
    path = "/auth/refresh",
    operation_id = "auth.refresh",
    tag = "auth",
    responses((status = 201, description = "A new token pair in the same session; the refresh token used is spent", body = LoginResponse)),
    security(("bearer" = []))
)]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, axum::Json<LoginResponse>)> {
    let failed = || ApiError::new(ProblemId::AuthFailedRefresh);
    let record = refresh_token(&state, &headers).await?;
    let (Some(user_id), Some(session_id)) = (record.user_id, record.session_id) else {
        return Err(failed());
    };
    let user = state.store.get_user(user_id).await?.ok_or_else(failed)?;
    let roles = state.store.organization_roles(user.id).await?;
    let (access, refresh) = mint_pair(&state, &user, &roles, session_id)?;
    let rotated = state
        .store
        .rotate_token(
            record.id,
            &[access.record.clone(), refresh.record.clone()],
            now(),
        )
        .await?;
    if !rotated {
        return Err(failed());
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(login_response(&user, access, refresh)),
    ))
}

#[utoipa::path(
    post,
    path = "/auth/logout",
    operation_id = "auth.logout",
    tag = "auth",
    responses((status = 204, description = "Every token of the session is expired"))
)]
pub async fn logout(State(state): State<AppState>, principal: Principal) -> ApiResult<StatusCode> {
    let session = principal.user_session(Action::AuthLogout).await?;
    state
        .store
        .expire_session(session.session_id, now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn owner(user: &User) -> Owner<'_> {
    Owner {
        email: &user.email,
        first_name: &user.first_name,
        last_name: &user.last_name,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordPost {
    /// The password in use, so a borrowed or stolen session cannot take over the account.
    current_password: String,
    new_password: String,
}

#[utoipa::path(
    post,
    path = "/auth/password",
    operation_id = "auth.change_password",
    tag = "auth",
    request_body = ChangePasswordPost,
    responses(
        (status = 204, description = "The password is changed; every other session of the user is ended"),
        (status = 401, description = "`current_password` is wrong (AuthFailedLogin)")
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ChangePasswordPost>,
) -> ApiResult<StatusCode> {
    let session = principal.user_session(Action::AuthChangePassword).await?;
    let user = state
        .store
        .get_user(session.user_id)
        .await?
        .ok_or_else(ApiError::forbidden)?;
    let phc = (!user.password_hash.is_empty()).then(|| user.password_hash.clone());
    if !passwords::verify(body.current_password, phc).await? {
        return Err(ProblemId::AuthFailedLogin.into());
    }
    check_password_policy(&state, &body.new_password, owner(&user))?;
    let hash = passwords::hash(body.new_password).await?;
    let at = now();
    state.store.set_user_password(user.id, &hash, None).await?;
    state
        .store
        .expire_other_sessions(user.id, session.session_id, at)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
