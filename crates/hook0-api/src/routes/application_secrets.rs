//! `/application_secrets`: UUID tokens that authenticate as one application (upstream's
//! compatibility path, used by the CLI and the SDKs).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hook0_core::model::{now, ApplicationSecret};
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct ApplicationSecretPost {
    application_id: Uuid,
    name: Option<String>,
}

impl ApplicationSecretPost {
    fn validate(&self) -> ApiResult<()> {
        let mut errors = ValidationErrors::default();
        if let Some(name) = &self.name {
            errors.check_len("name", name, 1, 50);
        }
        Ok(errors.into_result()?)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = ApplicationSecret)]
pub struct ApplicationSecretBody {
    name: Option<String>,
    token: Uuid,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl From<ApplicationSecret> for ApplicationSecretBody {
    fn from(s: ApplicationSecret) -> Self {
        Self {
            name: s.name,
            token: s.token,
            created_at: s.created_at,
            deleted_at: s.deleted_at,
        }
    }
}

#[utoipa::path(
    get,
    path = "/application_secrets",
    operation_id = "applicationSecrets.read",
    tag = "application_secrets",
    params(ByApplication),
    responses((status = 200, description = "The application's live secrets, oldest first", body = Vec<ApplicationSecretBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<ApplicationSecretBody>>> {
    principal
        .authorize_app(&state, q.application_id, Action::ApplicationSecretList)
        .await?;
    let secrets = state
        .store
        .list_application_secrets(q.application_id)
        .await?;
    Ok(axum::Json(secrets.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    post,
    path = "/application_secrets",
    operation_id = "applicationSecrets.create",
    tag = "application_secrets",
    request_body = ApplicationSecretPost,
    responses((status = 201, description = "The new secret", body = ApplicationSecretBody))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ApplicationSecretPost>,
) -> ApiResult<(StatusCode, axum::Json<ApplicationSecretBody>)> {
    principal
        .authorize_app(&state, body.application_id, Action::ApplicationSecretCreate)
        .await?;
    body.validate()?;
    let secret = ApplicationSecret {
        token: Uuid::new_v4(),
        application_id: body.application_id,
        name: body.name,
        created_at: now(),
        deleted_at: None,
    };
    state.store.create_application_secret(&secret).await?;
    Ok((StatusCode::CREATED, axum::Json(secret.into())))
}

#[utoipa::path(
    put,
    path = "/application_secrets/{token}",
    operation_id = "applicationSecrets.update",
    tag = "application_secrets",
    params(("token" = Uuid, Path, description = "The secret")),
    request_body = ApplicationSecretPost,
    responses((status = 200, description = "The renamed secret", body = ApplicationSecretBody))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(token): Path<Uuid>,
    Json(body): Json<ApplicationSecretPost>,
) -> ApiResult<axum::Json<ApplicationSecretBody>> {
    principal
        .authorize_app(&state, body.application_id, Action::ApplicationSecretEdit)
        .await?;
    body.validate()?;
    let secret = state
        .store
        .rename_application_secret(body.application_id, token, body.name.as_deref())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(secret.into()))
}

#[utoipa::path(
    delete,
    path = "/application_secrets/{token}",
    operation_id = "applicationSecrets.delete",
    tag = "application_secrets",
    params(("token" = Uuid, Path, description = "The secret"), ByApplication),
    responses((status = 204, description = "Revoked"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(token): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_app(&state, q.application_id, Action::ApplicationSecretDelete)
        .await?;
    if state
        .store
        .delete_application_secret(q.application_id, token)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
