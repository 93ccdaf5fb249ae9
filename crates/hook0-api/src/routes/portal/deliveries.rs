//! What was sent to the customer's subscriptions: attempts with their response and event,
//! resending one, and redelivering dead letters. An attempt of a subscription outside the
//! scope is unknown (404), whatever its id.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hook0_core::model::{now, StringMap};
use hook0_core::portal::Capability;
use hook0_store::{AttemptFilter, DeadLetterFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PortalAccess;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::routes::dead_letters::{
    dead_letters_page, redelivered, subscription_disabled, DeadLetterBody,
};
use crate::routes::request_attempts::{
    attempt_body, attempt_json, attempts_page, parse_statuses, response_body, resume_after,
    AttemptBody, ResponseBody, PAGE_SIZE,
};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortalAttemptQuery {
    /// Comma-separated states: `waiting`, `pending`, `in_progress`, `successful`, `failed`,
    /// `dead_letter`.
    status: Option<String>,
    pagination_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/portal/subscriptions/{id}/request_attempts",
    operation_id = "portal.requestAttempts.list",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id"), PortalAttemptQuery),
    responses((status = 200, description = "The subscription's attempts, newest first, 50 per page (`Link` names the next)", body = Vec<AttemptBody>))
)]
pub async fn list_attempts(
    State(state): State<AppState>,
    access: PortalAccess,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<Uuid>,
    Query(q): Query<PortalAttemptQuery>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<AttemptBody>>)> {
    access.require(Capability::View)?;
    let sub = access.subscription(&state, id).await?;
    let statuses = parse_statuses(q.status.as_deref())?;
    let before = resume_after(q.pagination_cursor.as_deref())?;
    let filter = AttemptFilter {
        application_id: sub.application_id,
        subscription_id: Some(sub.id),
        statuses,
        now: now(),
        before,
        limit: PAGE_SIZE,
        ..Default::default()
    };
    let path = format!("portal/subscriptions/{id}/request_attempts");
    attempts_page(&state, &path, &uri, &filter).await
}

/// The event an attempt delivered, as the customer may see it (not the sender's metadata or
/// IP). `payload` is base64, whatever the content type.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalEvent)]
pub struct PortalEventBody {
    event_id: Uuid,
    event_type_name: String,
    payload_content_type: &'static str,
    payload: String,
    labels: StringMap,
    occurred_at: DateTime<Utc>,
}

/// One attempt in full: where it stands, what was answered, what was sent.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalRequestAttempt)]
pub struct AttemptDetailBody {
    request_attempt: AttemptBody,
    response: Option<ResponseBody>,
    event: Option<PortalEventBody>,
}

/// The attempt `id` when its subscription is inside the scope.
async fn scoped_attempt(
    state: &AppState,
    access: &PortalAccess,
    id: Uuid,
) -> ApiResult<hook0_core::model::RequestAttempt> {
    let attempt = state
        .store
        .get_request_attempt(access.0.application_id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    access.subscription(state, attempt.subscription_id).await?;
    Ok(attempt)
}

#[utoipa::path(
    get,
    path = "/portal/request_attempts/{id}",
    operation_id = "portal.requestAttempts.get",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Request attempt id")),
    responses((status = 200, description = "The attempt, its response and its event", body = AttemptDetailBody))
)]
pub async fn get_attempt(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<AttemptDetailBody>> {
    access.require(Capability::View)?;
    let attempt = scoped_attempt(&state, &access, id).await?;
    let application_id = access.0.application_id;
    let response = match attempt.response_id {
        Some(rid) => state.store.get_response(application_id, rid).await?,
        None => None,
    };
    let event = state
        .store
        .get_event(application_id, attempt.event_id)
        .await?
        .map(|e| PortalEventBody {
            event_id: e.id,
            event_type_name: e.event_type_name,
            payload_content_type: e.payload_content_type.as_str(),
            payload: STANDARD.encode(&e.payload),
            labels: e.labels,
            occurred_at: e.occurred_at,
        });
    Ok(axum::Json(AttemptDetailBody {
        request_attempt: attempt_body(attempt, now()),
        response: response.map(response_body),
        event,
    }))
}

#[utoipa::path(
    post,
    path = "/portal/request_attempts/{id}/resend",
    operation_id = "portal.requestAttempts.resend",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Request attempt id")),
    responses((status = 201, description = "A new attempt of the same event to the same subscription (capability `retry`)", body = AttemptBody))
)]
pub async fn resend(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    access.require(Capability::Retry)?;
    let attempt = scoped_attempt(&state, &access, id).await?;
    let application_id = access.0.application_id;
    let queued = state
        .store
        .resend_event(
            application_id,
            attempt.event_id,
            attempt.subscription_id,
            now(),
        )
        .await?
        // The event is gone (retention) or the subscription disabled.
        .ok_or_else(subscription_disabled)?;
    let new = state
        .store
        .get_request_attempt(application_id, queued)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, axum::Json(attempt_json(new, now()))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pagination_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/portal/subscriptions/{id}/dead_letters",
    operation_id = "portal.deadLetters.list",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id"), PageQuery),
    responses((status = 200, description = "The subscription's dead letters, newest first, 50 per page", body = Vec<DeadLetterBody>))
)]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    access: PortalAccess,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<DeadLetterBody>>)> {
    access.require(Capability::View)?;
    let sub = access.subscription(&state, id).await?;
    let before = resume_after(q.pagination_cursor.as_deref())?;
    let filter = DeadLetterFilter {
        application_id: sub.application_id,
        subscription_id: Some(sub.id),
        before,
        limit: PAGE_SIZE,
    };
    let path = format!("portal/subscriptions/{id}/dead_letters");
    dead_letters_page(&state, &path, &uri, &filter).await
}

#[utoipa::path(
    post,
    path = "/portal/subscriptions/{id}/dead_letters/redeliver",
    operation_id = "portal.deadLetters.redeliver",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "`{\"count\": n}`: attempts queued, one per event (capability `retry`)", body = Object))
)]
pub async fn redeliver_dead_letters(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Value>> {
    access.require(Capability::Retry)?;
    let sub = access.subscription(&state, id).await?;
    redelivered(
        state
            .store
            .redeliver_dead_letters(sub.application_id, sub.id, None)
            .await?,
    )
}
