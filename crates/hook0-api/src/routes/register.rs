//! `POST /register`: a new user, unverified, with a personal organization where it is editor.
//! A verification link is mailed when SMTP is configured. Without SMTP the instance's first
//! user is verified at once (so a fresh install is usable without a mail server); later ones
//! are verified by an administrator with `hook0 user verify <email>`.

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::identity::{normalize_email, User};
use hook0_core::model::{now, Organization};
use hook0_core::password::Owner;
use hook0_core::problem::ProblemId;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::extract::Json;
use crate::passwords;
use crate::routes::auth::{check_email, check_password_policy};
use crate::routes::email_links::send_verification;
use crate::state::AppState;

/// Upstream's `RegistrationPost` (`turnstile_token`, `gclid` and `signup_channel` are accepted
/// and ignored: this server has no captcha nor ad tracking).
#[derive(Deserialize, ToSchema)]
pub struct RegistrationPost {
    first_name: String,
    last_name: String,
    email: String,
    password: String,
    turnstile_token: Option<String>,
    gclid: Option<String>,
    signup_channel: Option<String>,
}

impl RegistrationPost {
    fn validate(&self) -> ApiResult<()> {
        let mut errors = ValidationErrors::default();
        errors.check_len("first_name", &self.first_name, 1, 50);
        errors.check_len("last_name", &self.last_name, 1, 50);
        check_email(&mut errors, "email", &self.email);
        if let Some(gclid) = &self.gclid {
            errors.check_len("gclid", gclid, 0, 256);
        }
        if let Some(channel) = &self.signup_channel {
            errors.check_len("signup_channel", channel, 0, 72);
        }
        if let Some(token) = &self.turnstile_token {
            errors.check_no_nul("turnstile_token", token);
        }
        Ok(errors.into_result()?)
    }
}

#[derive(Serialize, ToSchema)]
pub struct Registration {
    organization_id: Uuid,
    user_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/register",
    operation_id = "register",
    tag = "auth",
    request_body = RegistrationPost,
    responses((status = 201, description = "The new user and its personal organization", body = Registration)),
    security(())
)]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegistrationPost>,
) -> ApiResult<(StatusCode, axum::Json<Registration>)> {
    if state.config.registration_disabled {
        return Err(ProblemId::RegistrationDisabled.into());
    }
    body.validate()?;
    let email = normalize_email(&body.email);
    let owner = Owner {
        email: &email,
        first_name: &body.first_name,
        last_name: &body.last_name,
    };
    check_password_policy(&state, &body.password, owner)?;
    let created_at = now();
    let mut user = User {
        id: Uuid::new_v4(),
        email,
        password_hash: passwords::hash(body.password).await?,
        first_name: body.first_name,
        last_name: body.last_name,
        email_verified_at: None,
        created_at,
    };
    let organization = Organization {
        id: Uuid::new_v4(),
        name: format!(
            "{} {}'s personal organization",
            user.first_name, user.last_name
        ),
        created_at,
    };
    let verify_if_first = state.config.mailer.is_none();
    let verified = state
        .store
        .register_user(&user, &organization, verify_if_first)
        .await?;
    if verified {
        user.email_verified_at = Some(created_at);
        tracing::info!(user_id = %user.id, "first user registered without SMTP: verified at once");
    } else {
        send_verification(&state, &user).await;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(Registration {
            organization_id: organization.id,
            user_id: user.id,
        }),
    ))
}
