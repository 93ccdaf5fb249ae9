//! `/event_types`: the `service.resource_type.verb` names events are ingested under.
//! Creation is an idempotent upsert (re-activating a deactivated type); deletion deactivates.

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::model::{now, EventType};
use hook0_core::quota::Quota;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    /// Added to upstream's shape: a JSON Schema (draft 2020-12) every `application/json`
    /// payload of this type must match, from the next ingest on. Absent: an existing type
    /// keeps its schema.
    #[schema(value_type = Option<Object>)]
    schema: Option<Value>,
}

/// Checks a schema before it is stored: a 422 on `schema` says why it cannot be used.
fn checked_schema(schema: Option<&Value>) -> ApiResult<()> {
    if let Some(reason) = schema.and_then(|s| hook0_core::schema::compile(s).err()) {
        let mut errors = ValidationErrors::default();
        errors.add_with_message("schema", "json_schema", &reason, serde_json::json!({}));
        return Err(errors.into());
    }
    Ok(())
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
    /// Added to upstream's shape, when the type has one: the JSON Schema its JSON payloads
    /// must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    schema: Option<Value>,
}

impl From<EventType> for EventTypeBody {
    fn from(et: EventType) -> Self {
        Self {
            event_type_name: et.name(),
            service_name: et.service,
            resource_type_name: et.resource_type,
            verb_name: et.verb,
            schema: et.schema,
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
    checked_schema(body.schema.as_ref())?;
    let et = EventType {
        application_id: body.application_id,
        service: body.service,
        resource_type: body.resource_type,
        verb: body.verb,
        created_at: now(),
        deactivated_at: None,
        schema: body.schema,
    };
    let limit = state.config.quotas.global(Quota::EventTypesPerApplication);
    let stored = state.store.upsert_event_type_within(&et, limit).await?;
    state
        .config
        .schemas
        .forget(stored.application_id, &stored.name());
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

#[derive(Deserialize, ToSchema)]
pub struct SchemaPut {
    application_id: Uuid,
    /// The new JSON Schema (draft 2020-12), or `null` to accept any payload again.
    #[schema(value_type = Option<Object>)]
    schema: Option<Value>,
}

#[utoipa::path(
    put,
    path = "/event_types/{name}/schema",
    operation_id = "eventTypes.setSchema",
    tag = "event_types",
    params(("name" = String, Path, description = "`service.resource_type.verb`")),
    request_body = SchemaPut,
    responses(
        (status = 200, description = "The event type; events ingested from now on are checked against the new schema", body = EventTypeBody),
        (status = 422, description = "Not a usable JSON Schema; nothing changed"),
    )
)]
pub async fn set_schema(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Json(body): Json<SchemaPut>,
) -> ApiResult<axum::Json<EventTypeBody>> {
    principal
        .authorize_app(&state, body.application_id, Action::EventTypeCreate)
        .await?;
    checked_schema(body.schema.as_ref())?;
    if !state
        .store
        .set_event_type_schema(body.application_id, &name, body.schema.as_ref())
        .await?
    {
        return Err(ApiError::not_found());
    }
    state.config.schemas.forget(body.application_id, &name);
    let et = state
        .store
        .get_event_type(body.application_id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(et.into()))
}
