//! `/request_attempts` and `/responses`: the delivery history. Attempts are listed newest first,
//! 50 per page, with a keyset cursor in a `Link: <…>; rel="next"` header.

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use hook0_core::model::{now, AttemptStatus, RequestAttempt, StringMap};
use hook0_store::AttemptFilter;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Action, Detail, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    application_id: Uuid,
    event_id: Option<Uuid>,
    subscription_id: Option<Uuid>,
    min_created_at: Option<DateTime<Utc>>,
    max_created_at: Option<DateTime<Utc>>,
    /// Comma-separated event type names.
    #[serde(rename = "event.event_type_names")]
    #[param(rename = "event.event_type_names")]
    event_type_names: Option<String>,
    pagination_cursor: Option<String>,
}

/// The cursor is base64url(JSON `{"date": created_at, "id": request_attempt_id}`), as upstream.
#[derive(Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub(crate) date: DateTime<Utc>,
    pub(crate) id: Uuid,
}

pub(crate) fn decode_cursor(raw: &str) -> ApiResult<Cursor> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| invalid_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
}

/// The `Link: <…>; rel="next"` header of a full page of `path` (e.g. `request_attempts`),
/// resuming after `cursor`, with the request's other query parameters kept. `None` when the
/// header value would be invalid.
pub(crate) fn next_page_link(
    app_url: &str,
    path: &str,
    uri: &Uri,
    cursor: &Cursor,
) -> Option<(HeaderName, HeaderValue)> {
    let cursor = URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).expect("cursor"));
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("pagination_cursor="))
        .collect();
    let base = app_url.trim_end_matches('/');
    let link = format!(
        "<{base}/api/v1/{path}?{}&pagination_cursor={cursor}>; rel=\"next\"",
        kept.join("&")
    );
    Some((header::LINK, HeaderValue::from_str(&link).ok()?))
}

fn invalid_cursor() -> ApiError {
    let mut errors = hook0_core::validation::ValidationErrors::default();
    errors.add_with_message(
        "pagination_cursor",
        "cursor",
        "not a cursor from a previous Link header",
        json!({}),
    );
    errors.into()
}

/// Where an attempt stands, tagged by `type`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schema(as = RequestAttemptStatus)]
pub enum StatusBody {
    Waiting {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    Pending {
        since: DateTime<Utc>,
    },
    /// Upstream's wire spelling is `inprogress` (its OpenAPI says `in_progress`).
    InProgress {
        since: DateTime<Utc>,
    },
    Successful {
        at: DateTime<Utc>,
        full_processing_ms: i64,
    },
    Failed {
        at: DateTime<Utc>,
        full_processing_ms: i64,
    },
}

impl From<AttemptStatus> for StatusBody {
    fn from(status: AttemptStatus) -> Self {
        match status {
            AttemptStatus::Waiting { since, until } => Self::Waiting { since, until },
            AttemptStatus::Pending { since } => Self::Pending { since },
            AttemptStatus::InProgress { since } => Self::InProgress { since },
            AttemptStatus::Successful {
                at,
                full_processing_ms,
            } => Self::Successful {
                at,
                full_processing_ms,
            },
            AttemptStatus::Failed {
                at,
                full_processing_ms,
            } => Self::Failed {
                at,
                full_processing_ms,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = RequestAttemptEvent)]
pub struct AttemptEventBody {
    event_id: Uuid,
    event_type_name: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RequestAttemptSubscription)]
pub struct AttemptSubscriptionBody {
    subscription_id: Uuid,
    description: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RequestAttempt)]
pub struct AttemptBody {
    request_attempt_id: Uuid,
    event_id: Uuid,
    event: AttemptEventBody,
    subscription: AttemptSubscriptionBody,
    created_at: DateTime<Utc>,
    picked_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    succeeded_at: Option<DateTime<Utc>>,
    delay_until: Option<DateTime<Utc>>,
    response_id: Option<Uuid>,
    retry_count: i32,
    http_response_status: Option<i32>,
    status: StatusBody,
}

pub(crate) fn attempt_body(a: RequestAttempt, now: DateTime<Utc>) -> AttemptBody {
    AttemptBody {
        status: a.status(now).into(),
        request_attempt_id: a.id,
        event_id: a.event_id,
        event: AttemptEventBody {
            event_id: a.event_id,
            event_type_name: a.event_type_name,
        },
        subscription: AttemptSubscriptionBody {
            subscription_id: a.subscription_id,
            description: a.subscription_description,
        },
        created_at: a.created_at,
        picked_at: a.picked_at,
        failed_at: a.failed_at,
        succeeded_at: a.succeeded_at,
        delay_until: a.delay_until,
        response_id: a.response_id,
        retry_count: a.retry_count,
        http_response_status: a.http_response_status,
    }
}

/// [`attempt_body`] as a JSON value, for answers that add fields to it.
pub(crate) fn attempt_json(a: RequestAttempt, now: DateTime<Utc>) -> Value {
    serde_json::to_value(attempt_body(a, now)).expect("attempts always serialize")
}

#[utoipa::path(
    get,
    path = "/request_attempts",
    operation_id = "requestAttempts.read",
    tag = "request_attempts",
    params(AttemptQuery),
    responses((
        status = 200,
        description = "50 attempts per page, newest first; `Link: <…>; rel=\"next\"` names the next page",
        body = Vec<AttemptBody>,
        headers(("Link" = String, description = "The next page, when this one is full")),
    ))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<AttemptQuery>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<AttemptBody>>)> {
    let event_type_names: Vec<String> = q
        .event_type_names
        .as_deref()
        .map(|names| {
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    principal
        .authorize_app_with(
            &state,
            q.application_id,
            Action::RequestAttemptList,
            &[Detail::EventTypeNames(&event_type_names)],
        )
        .await?;
    let before = q
        .pagination_cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .map(|c| (c.date, c.id));
    let filter = AttemptFilter {
        application_id: q.application_id,
        event_id: q.event_id,
        subscription_id: q.subscription_id,
        min_created_at: q.min_created_at,
        max_created_at: q.max_created_at,
        event_type_names: q.event_type_names.as_ref().map(|_| event_type_names),
        before,
        limit: PAGE_SIZE,
    };
    let attempts = state.store.list_request_attempts(&filter).await?;
    let mut headers = HeaderMap::new();
    if let Some(last) = attempts
        .last()
        .filter(|_| attempts.len() == PAGE_SIZE as usize)
    {
        let cursor = Cursor {
            date: last.created_at,
            id: last.id,
        };
        let link = next_page_link(&state.config.app_url, "request_attempts", &uri, &cursor);
        headers.extend(link);
    }
    let now = now();
    Ok((
        headers,
        axum::Json(attempts.into_iter().map(|a| attempt_body(a, now)).collect()),
    ))
}

#[utoipa::path(
    get,
    path = "/request_attempts/{id}",
    operation_id = "requestAttempts.get",
    tag = "request_attempts",
    params(("id" = Uuid, Path, description = "Request attempt id"), ByApplication),
    responses((status = 200, description = "The attempt", body = AttemptBody))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<AttemptBody>> {
    principal
        .authorize_app(&state, q.application_id, Action::RequestAttemptGet)
        .await?;
    let attempt = state
        .store
        .get_request_attempt(q.application_id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(attempt_body(attempt, now())))
}

#[derive(Serialize, ToSchema)]
#[schema(as = Response)]
pub struct ResponseBody {
    response_id: Uuid,
    response_error_name: Option<String>,
    http_code: Option<i32>,
    headers: Option<StringMap>,
    /// UTF-8 text, or base64 when the bytes are not valid UTF-8.
    body: Option<String>,
    elapsed_time_ms: i64,
}

#[utoipa::path(
    get,
    path = "/responses/{id}",
    operation_id = "response.get",
    tag = "request_attempts",
    params(("id" = Uuid, Path, description = "Response id"), ByApplication),
    responses((status = 200, description = "What the target answered, or why it could not", body = ResponseBody))
)]
pub async fn get_response(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<ResponseBody>> {
    principal
        .authorize_app(&state, q.application_id, Action::ResponseGet)
        .await?;
    let r = state
        .store
        .get_response(q.application_id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let body = r
        .body
        .map(|bytes| String::from_utf8(bytes).unwrap_or_else(|e| STANDARD.encode(e.as_bytes())));
    Ok(axum::Json(ResponseBody {
        response_id: r.id,
        response_error_name: r.error_name,
        http_code: r.http_code,
        headers: r.headers,
        body,
        elapsed_time_ms: r.elapsed_time_ms,
    }))
}
