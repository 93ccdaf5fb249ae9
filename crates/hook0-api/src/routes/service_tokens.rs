//! `/service_token`: an organization's tokens for programs. A service token is a Biscuit with
//! no expiry that acts on the whole organization; its holder may attenuate it offline (e.g.
//! `check if application_id(hex:…)`) before handing it on. Deleting one expires it, which
//! revokes it and every token attenuated from it.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hook0_core::identity::TokenRecord;
use hook0_core::model::now;
use hook0_core::problem::ProblemId;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Action, Detail, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::tokens;

#[derive(Deserialize, ToSchema)]
pub struct ServiceTokenPost {
    organization_id: Uuid,
    name: String,
}

impl ServiceTokenPost {
    fn validate(&self) -> ApiResult<()> {
        let mut errors = ValidationErrors::default();
        errors.check_len("name", &self.name, 1, 50);
        Ok(errors.into_result()?)
    }
}

/// Upstream's `ServiceToken`.
#[derive(Serialize, ToSchema)]
#[schema(as = ServiceToken)]
pub struct ServiceTokenBody {
    token_id: Uuid,
    name: String,
    /// The root Biscuit (base64), in the answer that creates the token only: copy it then.
    /// Everywhere else it is an empty string (the field is kept for upstream's clients), so
    /// that reading the list hands out no credential.
    biscuit: String,
    created_at: DateTime<Utc>,
}

impl From<TokenRecord> for ServiceTokenBody {
    /// Without the Biscuit.
    fn from(t: TokenRecord) -> Self {
        Self {
            token_id: t.id,
            name: t.name.unwrap_or_default(),
            biscuit: String::new(),
            created_at: t.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByOrganization {
    organization_id: Uuid,
}

#[utoipa::path(
    get,
    path = "/service_token",
    operation_id = "serviceToken.list",
    tag = "service_tokens",
    params(ByOrganization),
    responses((status = 200, description = "The organization's live service tokens, oldest first", body = Vec<ServiceTokenBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByOrganization>,
) -> ApiResult<axum::Json<Vec<ServiceTokenBody>>> {
    principal
        .authorize_org(q.organization_id, Action::ServiceTokenList)
        .await?;
    let found = state
        .store
        .list_service_tokens(q.organization_id, now())
        .await?;
    Ok(axum::Json(found.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    post,
    path = "/service_token",
    operation_id = "serviceToken.create",
    tag = "service_tokens",
    request_body = ServiceTokenPost,
    responses((status = 201, description = "The new service token", body = ServiceTokenBody))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ServiceTokenPost>,
) -> ApiResult<(StatusCode, axum::Json<ServiceTokenBody>)> {
    principal
        .authorize_org(body.organization_id, Action::ServiceTokenCreate)
        .await?;
    body.validate()?;
    if state
        .store
        .get_organization(body.organization_id)
        .await?
        .is_none()
    {
        return Err(ApiError::forbidden());
    }
    let minted = tokens::service_access(
        &state.config.biscuit_key,
        body.organization_id,
        &body.name,
        now(),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "service token minting failed");
        ApiError::new(ProblemId::InternalServerError)
    })?;
    state
        .store
        .insert_tokens(std::slice::from_ref(&minted.record))
        .await?;
    let mut created = ServiceTokenBody::from(minted.record);
    created.biscuit = minted.biscuit;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[utoipa::path(
    get,
    path = "/service_token/{id}",
    operation_id = "serviceToken.get",
    tag = "service_tokens",
    params(("id" = Uuid, Path, description = "Service token id"), ByOrganization),
    responses((status = 200, description = "The service token", body = ServiceTokenBody))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByOrganization>,
) -> ApiResult<axum::Json<ServiceTokenBody>> {
    principal
        .authorize_org_with(
            q.organization_id,
            Action::ServiceTokenGet,
            &[Detail::ServiceTokenId(id)],
        )
        .await?;
    let found = state
        .store
        .get_service_token(q.organization_id, id, now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(found.into()))
}

/// Renames the token (its Biscuit does not change).
#[utoipa::path(
    put,
    path = "/service_token/{id}",
    operation_id = "serviceToken.edit",
    tag = "service_tokens",
    params(("id" = Uuid, Path, description = "Service token id")),
    request_body = ServiceTokenPost,
    responses((status = 200, description = "The renamed service token", body = ServiceTokenBody))
)]
pub async fn edit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<ServiceTokenPost>,
) -> ApiResult<axum::Json<ServiceTokenBody>> {
    principal
        .authorize_org_with(
            body.organization_id,
            Action::ServiceTokenEdit,
            &[Detail::ServiceTokenId(id)],
        )
        .await?;
    body.validate()?;
    let renamed = state
        .store
        .rename_service_token(body.organization_id, id, &body.name, now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(renamed.into()))
}

#[utoipa::path(
    delete,
    path = "/service_token/{id}",
    operation_id = "serviceToken.delete",
    tag = "service_tokens",
    params(("id" = Uuid, Path, description = "Service token id"), ByOrganization),
    responses((status = 204, description = "Expired: the token and every token attenuated from it are refused from now on"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByOrganization>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_org_with(
            q.organization_id,
            Action::ServiceTokenDelete,
            &[Detail::ServiceTokenId(id)],
        )
        .await?;
    if state
        .store
        .expire_service_token(q.organization_id, id, now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
