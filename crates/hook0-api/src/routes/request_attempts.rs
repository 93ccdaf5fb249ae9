//! `/request_attempts` and `/responses`: the delivery history. Attempts are listed newest first,
//! 50 per page, with a keyset cursor in a `Link: <…>; rel="next"` header.

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use hook0_core::model::{
    now, AttemptStatus, AttemptStatusFilter, RequestAttempt, Response, StringMap,
};
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

pub(crate) const PAGE_SIZE: u32 = 50;

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
    /// Comma-separated states: `waiting`, `pending`, `in_progress` (or upstream's
    /// `inprogress`), `successful`, `failed`, `dead_letter`.
    status: Option<String>,
    /// Same as `min_created_at` (upstream's CLI sends it): RFC 3339, or a span back from now
    /// such as `30m`, `1h`, `7d`.
    since: Option<String>,
    /// Same as `max_created_at`, in the forms of `since`.
    until: Option<String>,
    /// Comma-separated event type names, as upstream's CLI sends them (joined with
    /// `event.event_type_names`).
    event_type: Option<String>,
    pagination_cursor: Option<String>,
}

/// `status=a,b`: unknown names are a 422 naming the accepted ones.
pub(crate) fn parse_statuses(raw: Option<&str>) -> ApiResult<Vec<AttemptStatusFilter>> {
    let mut statuses = Vec::new();
    for name in raw
        .unwrap_or_default()
        .split(',')
        .filter(|n| !n.trim().is_empty())
    {
        let Some(status) = AttemptStatusFilter::parse(name) else {
            let mut errors = hook0_core::validation::ValidationErrors::default();
            errors.add_with_message(
                "status",
                "status",
                &format!(
                    "`{}` is not a state; use {}",
                    name.trim(),
                    AttemptStatusFilter::NAMES.join(", ")
                ),
                json!({}),
            );
            return Err(errors.into());
        };
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// `since` / `until`: an RFC 3339 instant, or a span back from `now` (`90s`, `30m`, `1h`,
/// `7d`, `2w`); anything else is a 422 naming the parameter.
fn parse_instant(
    name: &str,
    raw: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if seconds > 0 && n <= 3_650 * 86_400 => Ok(Some(
            now - chrono::Duration::seconds(n.saturating_mul(seconds)),
        )),
        _ => {
            let mut errors = hook0_core::validation::ValidationErrors::default();
            errors.add_with_message(
                name,
                "instant",
                "an RFC 3339 instant or a span such as 30m, 1h, 7d",
                json!({}),
            );
            Err(errors.into())
        }
    }
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

/// Where a page resumes: the `(date, id)` of the `pagination_cursor` parameter, if any.
pub(crate) fn resume_after(cursor: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
    Ok(cursor
        .map(decode_cursor)
        .transpose()?
        .map(|c| (c.date, c.id)))
}

/// The headers of a page of `path` holding `items` (asked for `PAGE_SIZE`): a full page names
/// the next one, which resumes after the last item's `(date, id)`.
pub(crate) fn paged<T>(
    app_url: &str,
    path: &str,
    uri: &Uri,
    items: &[T],
    key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(last) = items.last().filter(|_| items.len() == PAGE_SIZE as usize) {
        let (date, id) = key(last);
        headers.extend(next_page_link(app_url, path, uri, &Cursor { date, id }));
    }
    headers
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
    /// Added: the key of an ordered delivery (left out for unordered ones). A pending attempt
    /// with a key may be waiting its turn behind an earlier one of the same key.
    #[serde(skip_serializing_if = "Option::is_none")]
    ordering_key: Option<String>,
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
        ordering_key: a.ordering_key,
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
    let named_types = q.event_type_names.is_some() || q.event_type.is_some();
    let event_type_names: Vec<String> = [q.event_type_names.as_deref(), q.event_type.as_deref()]
        .into_iter()
        .flatten()
        .flat_map(|names| names.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    let now = now();
    let statuses = parse_statuses(q.status.as_deref())?;
    let since = parse_instant("since", q.since.as_deref(), now)?;
    let until = parse_instant("until", q.until.as_deref(), now)?;
    principal
        .authorize_app_with(
            &state,
            q.application_id,
            Action::RequestAttemptList,
            &[Detail::EventTypeNames(&event_type_names)],
        )
        .await?;
    let before = resume_after(q.pagination_cursor.as_deref())?;
    let filter = AttemptFilter {
        application_id: q.application_id,
        event_id: q.event_id,
        subscription_id: q.subscription_id,
        // Both bounds given: the narrower one holds.
        min_created_at: q.min_created_at.max(since),
        max_created_at: match (q.max_created_at, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        event_type_names: named_types.then_some(event_type_names),
        statuses,
        now,
        before,
        limit: PAGE_SIZE,
    };
    attempts_page(&state, "request_attempts", &uri, &filter).await
}

/// One page of attempts as answered at `path`: the bodies, and the `Link` of the next page.
pub(crate) async fn attempts_page(
    state: &AppState,
    path: &str,
    uri: &Uri,
    filter: &AttemptFilter,
) -> ApiResult<(HeaderMap, axum::Json<Vec<AttemptBody>>)> {
    let attempts = state.store.list_request_attempts(filter).await?;
    let headers = paged(&state.config.app_url, path, uri, &attempts, |a| {
        (a.created_at, a.id)
    });
    let now = filter.now;
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
    Ok(axum::Json(response_body(r)))
}

pub(crate) fn response_body(r: Response) -> ResponseBody {
    let body = r
        .body
        .map(|bytes| String::from_utf8(bytes).unwrap_or_else(|e| STANDARD.encode(e.as_bytes())));
    ResponseBody {
        response_id: r.id,
        response_error_name: r.error_name,
        http_code: r.http_code,
        headers: r.headers,
        body,
        elapsed_time_ms: r.elapsed_time_ms,
    }
}
