//! `/request_attempts` and `/responses`: the delivery history. Attempts are listed newest first,
//! 50 per page, with a keyset cursor in a `Link: <…>; rel="next"` header.

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use hook0_core::model::{now, AttemptStatus, RequestAttempt, StringMap};
use hook0_store::AttemptFilter;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize)]
pub struct AttemptQuery {
    application_id: Uuid,
    event_id: Option<Uuid>,
    subscription_id: Option<Uuid>,
    min_created_at: Option<DateTime<Utc>>,
    max_created_at: Option<DateTime<Utc>>,
    #[serde(rename = "event.event_type_names")]
    event_type_names: Option<String>,
    pagination_cursor: Option<String>,
}

/// The cursor is base64url(JSON `{"date": created_at, "id": request_attempt_id}`), as upstream.
#[derive(Serialize, Deserialize)]
struct Cursor {
    date: DateTime<Utc>,
    id: Uuid,
}

fn decode_cursor(raw: &str) -> ApiResult<Cursor> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| invalid_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
}

fn invalid_cursor() -> ApiError {
    let mut errors = hook0_core::validation::ValidationErrors::default();
    errors.add_with_message("pagination_cursor", "cursor", "not a cursor from a previous Link header", json!({}));
    errors.into()
}

fn status_json(status: AttemptStatus) -> Value {
    match status {
        AttemptStatus::Waiting { since, until } => json!({ "type": "waiting", "since": since, "until": until }),
        AttemptStatus::Pending { since } => json!({ "type": "pending", "since": since }),
        // Upstream's wire spelling is `inprogress` (its OpenAPI says `in_progress`).
        AttemptStatus::InProgress { since } => json!({ "type": "inprogress", "since": since }),
        AttemptStatus::Successful { at, full_processing_ms } => {
            json!({ "type": "successful", "at": at, "full_processing_ms": full_processing_ms })
        }
        AttemptStatus::Failed { at, full_processing_ms } => {
            json!({ "type": "failed", "at": at, "full_processing_ms": full_processing_ms })
        }
    }
}

fn attempt_json(a: RequestAttempt, now: DateTime<Utc>) -> Value {
    let status = status_json(a.status(now));
    json!({
        "request_attempt_id": a.id,
        "event_id": a.event_id,
        "event": { "event_id": a.event_id, "event_type_name": a.event_type_name },
        "subscription": { "subscription_id": a.subscription_id, "description": a.subscription_description },
        "created_at": a.created_at,
        "picked_at": a.picked_at,
        "failed_at": a.failed_at,
        "succeeded_at": a.succeeded_at,
        "delay_until": a.delay_until,
        "response_id": a.response_id,
        "retry_count": a.retry_count,
        "http_response_status": a.http_response_status,
        "status": status,
    })
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<AttemptQuery>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<Value>>)> {
    principal.authorize_app(&state, q.application_id, Action::RequestAttemptList).await?;
    let before = q.pagination_cursor.as_deref().map(decode_cursor).transpose()?.map(|c| (c.date, c.id));
    let filter = AttemptFilter {
        application_id: q.application_id,
        event_id: q.event_id,
        subscription_id: q.subscription_id,
        min_created_at: q.min_created_at,
        max_created_at: q.max_created_at,
        event_type_names: q
            .event_type_names
            .map(|names| names.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect()),
        before,
        limit: PAGE_SIZE,
    };
    let attempts = state.store.list_request_attempts(&filter).await?;
    let mut headers = HeaderMap::new();
    if let Some(last) = attempts.last().filter(|_| attempts.len() == PAGE_SIZE as usize) {
        let cursor = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Cursor { date: last.created_at, id: last.id }).expect("cursor"));
        let kept: Vec<&str> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("pagination_cursor="))
            .collect();
        let base = state.config.app_url.trim_end_matches('/');
        let link = format!("<{base}/api/v1/request_attempts?{}&pagination_cursor={cursor}>; rel=\"next\"", kept.join("&"));
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    let now = now();
    Ok((headers, axum::Json(attempts.into_iter().map(|a| attempt_json(a, now)).collect())))
}

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Value>> {
    principal.authorize_app(&state, q.application_id, Action::RequestAttemptGet).await?;
    let attempt = state.store.get_request_attempt(q.application_id, id).await?.ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(attempt_json(attempt, now())))
}

#[derive(Serialize)]
pub struct ResponseBody {
    response_id: Uuid,
    response_error_name: Option<String>,
    http_code: Option<i32>,
    headers: Option<StringMap>,
    /// UTF-8 text, or base64 when the bytes are not valid UTF-8.
    body: Option<String>,
    elapsed_time_ms: i64,
}

pub async fn get_response(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<ResponseBody>> {
    principal.authorize_app(&state, q.application_id, Action::ResponseGet).await?;
    let r = state.store.get_response(q.application_id, id).await?.ok_or_else(ApiError::not_found)?;
    let body = r.body.map(|bytes| String::from_utf8(bytes).unwrap_or_else(|e| STANDARD.encode(e.as_bytes())));
    Ok(axum::Json(ResponseBody {
        response_id: r.id,
        response_error_name: r.error_name,
        http_code: r.http_code,
        headers: r.headers,
        body,
        elapsed_time_ms: r.elapsed_time_ms,
    }))
}
