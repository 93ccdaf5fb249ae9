//! Dead letters: attempts that failed with no retry left (retries exhausted, a failure no retry
//! can fix, or their subscription auto-disabled). Not in upstream, which leaves them failed.
//!
//! - `GET /dead_letters?application_id=[&subscription_id=]`: newest first, 50 per page, `Link`
//!   cursor as `/request_attempts`; each item is a request attempt plus `dead_lettered_at`.
//! - `POST /request_attempts/{id}/retry` `{application_id}`: queues a new attempt (retry count
//!   0) of one dead letter; 201 with the new attempt.
//! - `POST /subscriptions/{id}/dead_letters/redeliver` `{application_id, since?}`: queues one
//!   new attempt per event among the subscription's dead letters dead-lettered at or after
//!   `since`; `{"count": n}`.
//!
//! A redelivered dead letter leaves the list, so none is redelivered twice. `POST
//! /events/{id}/replay` keeps upstream's meaning (every matching subscription, dead or not).

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{DateTime, Utc};
use hook0_core::model::now;
use hook0_core::validation::ValidationErrors;
use hook0_store::{DeadLetterFilter, DeadLetterRetry, Redelivery};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::request_attempts::{
    attempt_body, attempt_json, paged, resume_after, AttemptBody,
};
use crate::routes::ByApplication;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    application_id: Uuid,
    subscription_id: Option<Uuid>,
    pagination_cursor: Option<String>,
}

/// 422 naming why a redelivery cannot be made.
fn refused(field: &str, code: &str, message: &str) -> ApiError {
    let mut errors = ValidationErrors::default();
    errors.add_with_message(field, code, message, json!({}));
    errors.into()
}

pub(crate) fn subscription_disabled() -> ApiError {
    refused(
        "subscription_id",
        "subscription_disabled",
        "the subscription is disabled: enable it before redelivering",
    )
}

/// A request attempt that failed with no retry left, and when it became a dead letter.
#[derive(Serialize, ToSchema)]
#[schema(as = DeadLetter)]
pub struct DeadLetterBody {
    #[serde(flatten)]
    pub(crate) attempt: AttemptBody,
    pub(crate) dead_lettered_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/dead_letters",
    operation_id = "deadLetters.list",
    tag = "dead_letters",
    params(DeadLetterQuery),
    responses((
        status = 200,
        description = "Dead letters, newest first, 50 per page: request attempts plus `dead_lettered_at`",
        body = Vec<DeadLetterBody>,
        headers(("Link" = String, description = "The next page, when this one is full")),
    ))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<DeadLetterQuery>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<DeadLetterBody>>)> {
    principal
        .authorize_app(&state, q.application_id, Action::DeadLetterList)
        .await?;
    let before = resume_after(q.pagination_cursor.as_deref())?;
    let filter = DeadLetterFilter {
        application_id: q.application_id,
        subscription_id: q.subscription_id,
        before,
        limit: PAGE_SIZE,
    };
    dead_letters_page(&state, "dead_letters", &uri, &filter).await
}

/// One page of dead letters as answered at `path`: the bodies, and the `Link` of the next page.
pub(crate) async fn dead_letters_page(
    state: &AppState,
    path: &str,
    uri: &Uri,
    filter: &DeadLetterFilter,
) -> ApiResult<(HeaderMap, axum::Json<Vec<DeadLetterBody>>)> {
    let letters = state.store.list_dead_letters(filter).await?;
    let headers = paged(&state.config.app_url, path, uri, &letters, |l| {
        (l.dead_lettered_at, l.attempt.id)
    });
    let now = now();
    let items = letters
        .into_iter()
        .map(|letter| DeadLetterBody {
            attempt: attempt_body(letter.attempt, now),
            dead_lettered_at: letter.dead_lettered_at,
        })
        .collect();
    Ok((headers, axum::Json(items)))
}

/// The answer to a bulk redelivery: `{"count": n}`, or why nothing was queued.
pub(crate) fn redelivered(outcome: Redelivery) -> ApiResult<axum::Json<Value>> {
    match outcome {
        Redelivery::Queued { count } => Ok(axum::Json(json!({ "count": count }))),
        Redelivery::SubscriptionNotFound => Err(ApiError::not_found()),
        Redelivery::SubscriptionDisabled => Err(subscription_disabled()),
    }
}

#[utoipa::path(
    post,
    path = "/request_attempts/{id}/retry",
    operation_id = "deadLetters.retry",
    tag = "dead_letters",
    params(("id" = Uuid, Path, description = "The dead letter's request attempt id")),
    request_body = ByApplication,
    responses((status = 201, description = "The new attempt", body = crate::routes::request_attempts::AttemptBody))
)]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<ByApplication>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    principal
        .authorize_app(&state, body.application_id, Action::DeadLetterRedeliver)
        .await?;
    let attempt_id = match state
        .store
        .retry_dead_letter(body.application_id, id)
        .await?
    {
        DeadLetterRetry::Queued { attempt_id } => attempt_id,
        DeadLetterRetry::NotFound => return Err(ApiError::not_found()),
        DeadLetterRetry::NotADeadLetter => return Err(refused(
            "request_attempt_id",
            "not_a_dead_letter",
            "only a dead letter (failed with no retry left, not yet redelivered) can be retried",
        )),
        DeadLetterRetry::SubscriptionDisabled => return Err(subscription_disabled()),
    };
    let attempt = state
        .store
        .get_request_attempt(body.application_id, attempt_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(attempt_json(attempt, now())),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RedeliverPost {
    application_id: Uuid,
    /// Only dead letters dead-lettered at or after this time; all when absent.
    since: Option<DateTime<Utc>>,
}

#[utoipa::path(
    post,
    path = "/subscriptions/{id}/dead_letters/redeliver",
    operation_id = "deadLetters.redeliver",
    tag = "dead_letters",
    params(("id" = Uuid, Path, description = "Subscription id")),
    request_body = RedeliverPost,
    responses((status = 200, description = "`{\"count\": n}`: attempts queued, one per event", body = Object))
)]
pub async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path(subscription_id): Path<Uuid>,
    Json(body): Json<RedeliverPost>,
) -> ApiResult<axum::Json<Value>> {
    principal
        .authorize_app(&state, body.application_id, Action::DeadLetterRedeliver)
        .await?;
    redelivered(
        state
            .store
            .redeliver_dead_letters(body.application_id, subscription_id, body.since)
            .await?,
    )
}
