//! `/event` (ingest) and `/events` (list, get, replay).
//!
//! Ingest follows upstream's order: parse, authorize, validate (422), decode the payload by its
//! content type (400), check a JSON payload against its event type's schema when it has one
//! (422, ours), then store the event and its request attempts in one transaction and answer 201.
//! Nothing about delivery happens on this path.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use chrono::{DateTime, Utc};
use hook0_core::metrics::metrics;
use hook0_core::model::{Event, PayloadContentType, StringMap};
use hook0_core::problem::ProblemId;
use hook0_core::quota::Quota;
use hook0_core::validation::{MapLimits, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

/// Upstream's cap: the largest payload whose base64 form fits a 1 MiB budget.
const MAX_PAYLOAD_CHARS: usize = 699_050;
/// `GET /events` returns the newest events only.
const LIST_LIMIT: u32 = 100;

#[derive(Deserialize, ToSchema)]
pub struct EventPost {
    application_id: Uuid,
    event_id: Option<Uuid>,
    event_type: String,
    payload: String,
    payload_content_type: String,
    metadata: Option<StringMap>,
    occurred_at: DateTime<Utc>,
    labels: StringMap,
}

impl EventPost {
    fn validate(&self) -> ApiResult<()> {
        let mut errors = ValidationErrors::default();
        errors.check_len("event_type", &self.event_type, 1, 200);
        errors.check_no_control_chars("event_type", &self.event_type);
        // The payload is stored as bytes, so NUL is fine there: only its length is checked.
        if self.payload.chars().count() > MAX_PAYLOAD_CHARS {
            errors.add(
                "payload",
                "length",
                serde_json::json!({ "max": MAX_PAYLOAD_CHARS }),
            );
        }
        errors.check_len("payload_content_type", &self.payload_content_type, 1, 100);
        if let Some(m) = &self.metadata {
            errors.check_map("metadata", m.iter(), MapLimits::METADATA);
        }
        errors.check_map("labels", self.labels.iter(), MapLimits::LABELS);
        Ok(errors.into_result()?)
    }

    /// The stored bytes: JSON must parse, base64 is decoded, text is kept as is.
    fn decode_payload(&self) -> ApiResult<(PayloadContentType, Vec<u8>)> {
        let content_type = PayloadContentType::parse(&self.payload_content_type)
            .ok_or(ProblemId::EventInvalidPayloadContentType)?;
        let bytes = match content_type {
            PayloadContentType::TextPlain => self.payload.as_bytes().to_vec(),
            PayloadContentType::Json => {
                serde_json::from_str::<serde::de::IgnoredAny>(&self.payload).map_err(|e| {
                    ApiError::detail(ProblemId::EventInvalidJsonPayload, e.to_string())
                })?;
                self.payload.as_bytes().to_vec()
            }
            PayloadContentType::OctetStreamBase64 => base64::engine::general_purpose::STANDARD
                .decode(&self.payload)
                .map_err(|e| {
                    ApiError::detail(ProblemId::EventInvalidBase64Payload, e.to_string())
                })?,
        };
        Ok((content_type, bytes))
    }
}

#[derive(Serialize, ToSchema)]
pub struct IngestedEvent {
    application_id: Uuid,
    event_id: Uuid,
    received_at: DateTime<Utc>,
}

#[utoipa::path(
    post,
    path = "/event",
    operation_id = "events.ingest",
    tag = "events",
    request_body = EventPost,
    responses((status = 201, description = "Stored with its request attempts; delivery follows", body = IngestedEvent))
)]
pub async fn ingest(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    principal: Principal,
    Json(body): Json<EventPost>,
) -> ApiResult<(StatusCode, axum::Json<IngestedEvent>)> {
    let started = Instant::now();
    principal
        .authorize_app(&state, body.application_id, Action::EventIngest)
        .await?;
    body.validate()?;
    let (payload_content_type, payload) = body.decode_payload()?;
    if payload_content_type == PayloadContentType::Json {
        check_schema(&state, body.application_id, &body.event_type, &payload).await?;
    }
    let event = Event {
        id: body.event_id.unwrap_or_else(Uuid::now_v7),
        application_id: body.application_id,
        event_type_name: body.event_type,
        payload,
        payload_content_type,
        ip: (!client_ip.is_unspecified()).then(|| client_ip.to_string()),
        metadata: body.metadata.unwrap_or_default(),
        labels: body.labels,
        occurred_at: body.occurred_at,
        received_at: state.config.clock.now(),
    };
    let events_per_day = state
        .config
        .quotas
        .for_application(Quota::EventsPerDay, None);
    let ingested = state
        .store
        .ingest_event_within(&event, events_per_day)
        .await?;
    metrics().event_ingested(event.application_id, started.elapsed());
    tracing::debug!(event_id = %event.id, attempts = ingested.request_attempts, "event ingested");
    Ok((
        StatusCode::CREATED,
        axum::Json(IngestedEvent {
            application_id: event.application_id,
            event_id: event.id,
            received_at: ingested.received_at,
        }),
    ))
}

/// Refuses (422, nothing stored) a JSON payload that does not match its event type's schema;
/// the `validation` body names each failing place (`pointer`) and what was expected.
async fn check_schema(
    state: &AppState,
    application_id: Uuid,
    event_type: &str,
    payload: &[u8],
) -> ApiResult<()> {
    let Some(schema) = state
        .config
        .schemas
        .get(&*state.store, application_id, event_type)
        .await?
    else {
        return Ok(());
    };
    // Already checked to be JSON by `decode_payload`.
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| ApiError::detail(ProblemId::EventInvalidJsonPayload, e.to_string()))?;
    let violations = schema.violations(&value);
    if violations.is_empty() {
        return Ok(());
    }
    let mut errors = ValidationErrors::default();
    for v in violations {
        errors.add_with_message(
            "payload",
            "schema",
            &v.message,
            serde_json::json!({ "pointer": v.pointer, "schema_path": v.schema_path }),
        );
    }
    Err(errors.into())
}

/// An event; `payload` (base64, whatever the content type) only when fetched by id.
#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventBody {
    event_id: Uuid,
    event_type_name: String,
    payload_content_type: &'static str,
    ip: Option<String>,
    metadata: StringMap,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    labels: StringMap,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

fn event_body(e: Event, with_payload: bool) -> EventBody {
    EventBody {
        event_id: e.id,
        event_type_name: e.event_type_name,
        payload_content_type: e.payload_content_type.as_str(),
        ip: e.ip,
        metadata: e.metadata,
        occurred_at: e.occurred_at,
        received_at: e.received_at,
        labels: e.labels,
        payload: with_payload.then(|| base64::engine::general_purpose::STANDARD.encode(&e.payload)),
    }
}

#[utoipa::path(
    get,
    path = "/events",
    operation_id = "events.list",
    tag = "events",
    params(ByApplication),
    responses((status = 200, description = "The 100 most recently received events, without payload", body = Vec<EventBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<EventBody>>> {
    principal
        .authorize_app(&state, q.application_id, Action::EventList)
        .await?;
    let events = state
        .store
        .list_events(q.application_id, LIST_LIMIT)
        .await?;
    Ok(axum::Json(
        events.into_iter().map(|e| event_body(e, false)).collect(),
    ))
}

/// The payload is always base64, whatever its content type (upstream's contract).
#[utoipa::path(
    get,
    path = "/events/{id}",
    operation_id = "events.get",
    tag = "events",
    params(("id" = Uuid, Path, description = "Event id"), ByApplication),
    responses((status = 200, description = "The event with its payload in base64", body = EventBody))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<EventBody>> {
    principal
        .authorize_app(&state, q.application_id, Action::EventGet)
        .await?;
    let event = state
        .store
        .get_event(q.application_id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(event_body(event, true)))
}

/// New attempts for every subscription matching the event now (not only the failed ones).
#[utoipa::path(
    post,
    path = "/events/{id}/replay",
    operation_id = "events.replay",
    tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = ByApplication,
    responses((status = 204, description = "New attempts queued for every subscription matching now"))
)]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<ByApplication>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_app(&state, body.application_id, Action::EventReplay)
        .await?;
    match state.store.replay_event(body.application_id, id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found()),
    }
}
