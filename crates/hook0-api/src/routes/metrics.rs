//! `GET /metrics`: the process's Prometheus metrics, outside `/api/v1`. The queue and pool gauges
//! are read from the store at scrape time (one query), so they are never stale.
//!
//! Off with `METRICS_ENABLED=false` (404); behind a key with `METRICS_KEY`, given as
//! `Authorization: Bearer <key>` (what Prometheus' `authorization` setting sends) or `?key=`.

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use hook0_core::metrics::{self, metrics, PoolGauges, QueueGauges};
use hook0_core::problem::ProblemId;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

pub async fn scrape(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KeyQuery>,
) -> ApiResult<Response> {
    if !state.config.metrics_enabled {
        return Err(ApiError::not_found());
    }
    if let Some(expected) = state
        .config
        .metrics_key
        .as_deref()
        .filter(|k| !k.is_empty())
    {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
        let Some(given) = bearer.or(q.key) else {
            return Err(ProblemId::AuthNoAuthorizationHeader.into());
        };
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::forbidden());
        }
    }
    record_gauges(&state).await;
    let mut response = metrics().render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(response)
}

/// Sets the queue and pool gauges from the store; on failure they keep their last values and the
/// scrape still answers (the other metrics are what an operator needs most during an outage).
async fn record_gauges(state: &AppState) {
    let stats =
        tokio::time::timeout(state.config.health_check_timeout, state.store.queue_stats()).await;
    match stats {
        Ok(Ok(q)) => metrics().set_queue(QueueGauges {
            due: q.due,
            delayed: q.delayed,
            in_flight: q.in_flight,
            oldest_due_age: q.oldest_due_age(),
            circuits_open: q.circuits_open,
            circuits_half_open: q.circuits_half_open,
        }),
        Ok(Err(error)) => tracing::warn!(%error, "metrics: reading the queue failed"),
        Err(_) => tracing::warn!("metrics: reading the queue timed out"),
    }
    if let Some(p) = state.store.pool_stats() {
        metrics().set_pool(PoolGauges {
            idle: i64::from(p.idle),
            in_use: i64::from(p.in_use),
            max: i64::from(p.max),
        });
    }
}
