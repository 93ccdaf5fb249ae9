//! `/event_types`: the `service.resource_type.verb` names events are ingested under.
//! Creation is an idempotent upsert (re-activating a deactivated type); deletion deactivates.

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::model::{now, EventType};
use hook0_core::quota::Quota;
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
pub struct EventTypePost {
    application_id: Uuid,
    service: String,
    resource_type: String,
    verb: String,
}

impl EventTypePost {
    fn validate(&self) -> ApiResult<()> {
        let mut errors = ValidationErrors::default();
        for (field, value) in [
            ("service", &self.service),
            ("resource_type", &self.resource_type),
            ("verb", &self.verb),
        ] {
            errors.check_len(field, value, 1, 50);
            // ASCII letters, digits, `_` and `-` only: Unicode would let two spellings of one
            // name (NFC and NFD `café`) be two types, an event under the other one silently
            // reaching no subscription; `.` separates the parts.
            if !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                errors.add_with_message(
                    field,
                    "event_type_name",
                    "only ASCII letters, digits, '_' and '-'",
                    serde_json::json!({ "value": value }),
                );
            }
        }
        Ok(errors.into_result()?)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = EventType)]
pub struct EventTypeBody {
    service_name: String,
    resource_type_name: String,
    verb_name: String,
    event_type_name: String,
}

impl From<EventType> for EventTypeBody {
    fn from(et: EventType) -> Self {
        Self {
            event_type_name: et.name(),
            service_name: et.service,
            resource_type_name: et.resource_type,
            verb_name: et.verb,
        }
    }
}

#[utoipa::path(
    get,
    path = "/event_types",
    operation_id = "eventTypes.list",
    tag = "event_types",
    params(ByApplication),
    responses((status = 200, description = "The application's active event types, by name", body = Vec<EventTypeBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<EventTypeBody>>> {
    principal
        .authorize_app(&state, q.application_id, Action::EventTypeList)
        .await?;
    let types = state.store.list_event_types(q.application_id).await?;
    Ok(axum::Json(types.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    post,
    path = "/event_types",
    operation_id = "eventTypes.create",
    tag = "event_types",
    request_body = EventTypePost,
    responses((status = 201, description = "Created, or re-activated if it existed", body = EventTypeBody))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<EventTypePost>,
) -> ApiResult<(StatusCode, axum::Json<EventTypeBody>)> {
    principal
        .authorize_app(&state, body.application_id, Action::EventTypeCreate)
        .await?;
    body.validate()?;
    let et = EventType {
        application_id: body.application_id,
        service: body.service,
        resource_type: body.resource_type,
        verb: body.verb,
        created_at: now(),
        deactivated_at: None,
        schema: None,
    };
    let limit = state.config.quotas.global(Quota::EventTypesPerApplication);
    let stored = state.store.upsert_event_type_within(&et, limit).await?;
    Ok((StatusCode::CREATED, axum::Json(stored.into())))
}

#[utoipa::path(
    get,
    path = "/event_types/{name}",
    operation_id = "eventTypes.get",
    tag = "event_types",
    params(("name" = String, Path, description = "`service.resource_type.verb`"), ByApplication),
    responses((status = 200, description = "The event type", body = EventTypeBody))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<EventTypeBody>> {
    principal
        .authorize_app(&state, q.application_id, Action::EventTypeGet)
        .await?;
    let et = state
        .store
        .get_event_type(q.application_id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(et.into()))
}

#[utoipa::path(
    delete,
    path = "/event_types/{name}",
    operation_id = "eventTypes.delete",
    tag = "event_types",
    params(("name" = String, Path, description = "`service.resource_type.verb`"), ByApplication),
    responses((status = 204, description = "Deactivated"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<ByApplication>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_app(&state, q.application_id, Action::EventTypeDelete)
        .await?;
    if state
        .store
        .deactivate_event_type(q.application_id, &name)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
