//! `/auth/*` mailed links: email verification (`verify-email`, `resend-verification-email`) and
//! password reset (`begin-reset-password`, `reset-password`). A link's token is a Biscuit of its
//! own type (24 h and 30 min), not stored: it acts once by the state it changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use hook0_core::identity::{normalize_email, User};
use hook0_core::model::now;
use hook0_core::problem::ProblemId;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{self, Refusal};
use crate::error::ApiResult;
use crate::extract::Json;
use crate::passwords;
use crate::routes::auth::{check_password_policy, internal, open_session, owner, LoginResponse};
use crate::state::AppState;
use crate::tokens::{self, EmailLink};

#[derive(Deserialize, ToSchema)]
pub struct TokenPost {
    token: String,
}

/// The user named by a mailed link's token: 403 `AuthInvalidBiscuit` for a token this
/// instance did not sign, 401 `AuthEmailExpired` for one expired or of another kind.
async fn link_user(state: &AppState, token: &str, link: EmailLink) -> ApiResult<User> {
    let biscuit =
        tokens::parse(&state.config.biscuit_key, token).ok_or(ProblemId::AuthInvalidBiscuit)?;
    let own = match auth::authorize_own_use(
        &biscuit,
        link.type_name(),
        state.config.max_authorization_time,
    ) {
        Ok(own) => own,
        Err(Refusal::Timeout) => return Err(ProblemId::ServiceUnavailable.into()),
        Err(Refusal::Denied) => return Err(ProblemId::AuthEmailExpired.into()),
    };
    let user = state
        .store
        .get_user(own.user_id)
        .await?
        .ok_or(ProblemId::AuthEmailExpired)?;
    if link == EmailLink::PasswordReset {
        // Single use: the link names the password it replaces; once changed, it is spent.
        let current = tokens::password_state(&user.password_hash);
        let matches = own
            .password_state
            .is_some_and(|sent| bool::from(sent.as_slice().ct_eq(current.as_slice())));
        if !matches {
            return Err(ProblemId::AuthEmailExpired.into());
        }
    }
    Ok(user)
}

#[utoipa::path(
    post,
    path = "/auth/verify-email",
    operation_id = "auth.verify_email",
    tag = "auth",
    request_body = TokenPost,
    responses((status = 201, description = "Verified (once), and logged in", body = LoginResponse)),
    security(())
)]
pub async fn verify_email(
    State(state): State<AppState>,
    Json(body): Json<TokenPost>,
) -> ApiResult<(StatusCode, axum::Json<LoginResponse>)> {
    let mut user = link_user(&state, &body.token, EmailLink::EmailVerification).await?;
    let at = now();
    if !state.store.verify_user_email(user.id, at).await? {
        return Err(ProblemId::AuthEmailAlreadyVerified.into());
    }
    user.email_verified_at = Some(at);
    Ok((
        StatusCode::CREATED,
        axum::Json(open_session(&state, &user).await?),
    ))
}

/// Verification mails sent per account: at most one a minute, five a day (upstream's limits).
#[derive(Default)]
pub struct MailCooldown(Mutex<HashMap<Uuid, Vec<Instant>>>);

const MAIL_COOLDOWN: Duration = Duration::from_secs(60);
const MAIL_WINDOW: Duration = Duration::from_secs(24 * 3600);
const MAILS_PER_WINDOW: usize = 5;

impl MailCooldown {
    /// Records a send for `user_id` when allowed now.
    fn allow(&self, user_id: Uuid) -> bool {
        let mut sent = self.0.lock().expect("mail cooldown lock");
        sent.retain(|_, times| times.last().is_some_and(|t| t.elapsed() < MAIL_WINDOW));
        let times = sent.entry(user_id).or_default();
        times.retain(|t| t.elapsed() < MAIL_WINDOW);
        if times.len() >= MAILS_PER_WINDOW
            || times.last().is_some_and(|t| t.elapsed() < MAIL_COOLDOWN)
        {
            return false;
        }
        times.push(Instant::now());
        true
    }
}

/// Sends `user` a verification link, or says how to verify without mail.
pub(crate) async fn send_verification(state: &AppState, user: &User) {
    let Some(mailer) = &state.config.mailer else {
        tracing::info!(
            user_id = %user.id,
            "no SMTP server configured (SMTP_CONNECTION_URL): verify this user with `hook0 user verify <email>`"
        );
        return;
    };
    let token = match tokens::email_link(
        &state.config.biscuit_key,
        EmailLink::EmailVerification,
        user,
        now(),
    ) {
        Ok(token) => token,
        Err(e) => return tracing::error!(error = %e, "cannot mint a verification token"),
    };
    if let Err(e) = mailer
        .send_verification(&user.email, &user.first_name, &state.config.app_url, &token)
        .await
    {
        tracing::warn!(user_id = %user.id, error = %e, "the verification mail could not be sent");
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EmailPost {
    email: String,
}

#[utoipa::path(
    post,
    path = "/auth/resend-verification-email",
    operation_id = "auth.resend_verification_email",
    tag = "auth",
    request_body = EmailPost,
    responses((status = 204, description = "Sent if the account exists, is unverified, and has not had one in the last minute (at most 5 a day)")),
    security(())
)]
pub async fn resend_verification_email(
    State(state): State<AppState>,
    Extension(cooldown): Extension<Arc<MailCooldown>>,
    Json(body): Json<EmailPost>,
) -> ApiResult<StatusCode> {
    let user = state
        .store
        .user_by_email(&normalize_email(&body.email))
        .await?;
    if let Some(user) = user.filter(|u| u.email_verified_at.is_none()) {
        if cooldown.allow(user.id) {
            send_verification(&state, &user).await;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/auth/begin-reset-password",
    operation_id = "auth.begin_reset_password",
    tag = "auth",
    request_body = EmailPost,
    responses((status = 204, description = "A reset link was mailed (at most one a minute and five a day per account); it works once, for 30 minutes")),
    security(())
)]
pub async fn begin_reset_password(
    State(state): State<AppState>,
    Extension(cooldown): Extension<Arc<MailCooldown>>,
    Json(body): Json<EmailPost>,
) -> ApiResult<StatusCode> {
    // Upstream answers an unknown email with 401 AuthEmailExpired.
    let user = state
        .store
        .user_by_email(&normalize_email(&body.email))
        .await?
        .ok_or(ProblemId::AuthEmailExpired)?;
    let Some(mailer) = &state.config.mailer else {
        tracing::warn!(user_id = %user.id, "password reset asked, but no SMTP server is configured (SMTP_CONNECTION_URL)");
        return Ok(StatusCode::NO_CONTENT);
    };
    // Mails to one account are throttled like verification mails (one a minute, five a day);
    // the answer does not tell.
    if !cooldown.allow(user.id) {
        tracing::info!(user_id = %user.id, "password reset mail throttled");
        return Ok(StatusCode::NO_CONTENT);
    }
    let token = tokens::email_link(
        &state.config.biscuit_key,
        EmailLink::PasswordReset,
        &user,
        now(),
    )
    .map_err(internal)?;
    if let Err(e) = mailer
        .send_password_reset(&user.email, &user.first_name, &state.config.app_url, &token)
        .await
    {
        tracing::warn!(user_id = %user.id, error = %e, "the password reset mail could not be sent");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordPost {
    token: String,
    new_password: String,
}

#[utoipa::path(
    post,
    path = "/auth/reset-password",
    operation_id = "auth.reset_password",
    tag = "auth",
    request_body = ResetPasswordPost,
    responses((status = 204, description = "The password is changed, the email verified, and every session of the user ended")),
    security(())
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetPasswordPost>,
) -> ApiResult<StatusCode> {
    let user = link_user(&state, &body.token, EmailLink::PasswordReset).await?;
    check_password_policy(&state, &body.new_password, owner(&user))?;
    let hash = passwords::hash(body.new_password).await?;
    let at = now();
    state
        .store
        .set_user_password(user.id, &hash, Some(at))
        .await?;
    state.store.expire_user_sessions(user.id, at).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_mails_are_throttled_per_account() {
        let cooldown = MailCooldown::default();
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(cooldown.allow(ada));
        assert!(!cooldown.allow(ada), "a second mail within a minute");
        assert!(cooldown.allow(bob));
    }
}
