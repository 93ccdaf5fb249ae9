//! Instance-level, unauthenticated routes: `/instance`, `/errors`, `/payload_content_types`
//! and `/health`.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::metrics::metrics;
use hook0_core::model::PayloadContentType;
use hook0_core::problem::{Problem, ProblemId};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

/// A worker whose loop has not turned for this long is stuck: its deliveries have all outlived
/// any timeout, and it has not even polled the queue.
const WORKER_STALLED_AFTER: Duration = Duration::from_secs(60);

/// What the dashboard and SDKs learn about this instance (upstream's `InstanceConfig`).
#[derive(Serialize, ToSchema)]
#[schema(as = InstanceConfig)]
pub struct InstanceConfig {
    /// Hex Ed25519 public key of this instance's Biscuit tokens (user sessions, service
    /// tokens): what a customer needs to check or attenuate a token offline.
    biscuit_public_key: String,
    registration_disabled: bool,
    password_minimum_length: u8,
    auto_db_migration: bool,
    application_secret_compatibility: bool,
    quota_enforcement: bool,
    #[schema(value_type = Option<Object>)]
    matomo: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    formbricks: Option<serde_json::Value>,
    support_email_address: String,
    cloudflare_turnstile_site_key: Option<String>,
}

#[utoipa::path(
    get,
    path = "/instance",
    operation_id = "instance.get",
    tag = "instance",
    responses((status = 200, description = "This instance's configuration", body = InstanceConfig))
)]
pub async fn instance(State(state): State<AppState>) -> axum::Json<InstanceConfig> {
    axum::Json(InstanceConfig {
        biscuit_public_key: state.config.biscuit_key.public_hex(),
        registration_disabled: state.config.registration_disabled,
        password_minimum_length: state.config.password_minimum_length.min(u8::MAX as usize) as u8,
        auto_db_migration: true,
        application_secret_compatibility: state.config.application_secret_compatibility,
        quota_enforcement: state.config.quotas.is_enforced(),
        matomo: None,
        formbricks: None,
        support_email_address: String::new(),
        cloudflare_turnstile_site_key: None,
    })
}

#[utoipa::path(
    get,
    path = "/errors",
    operation_id = "errors.list",
    tag = "instance",
    responses((status = 200, description = "Every problem this API answers with", body = Vec<Problem>))
)]
pub async fn errors() -> axum::Json<Vec<Problem>> {
    axum::Json(ProblemId::ALL.iter().copied().map(Problem::from).collect())
}

#[utoipa::path(
    get,
    path = "/payload_content_types",
    operation_id = "payload_content_types.list",
    tag = "instance",
    responses((status = 200, description = "Accepted `payload_content_type` values", body = Vec<String>))
)]
pub async fn payload_content_types() -> axum::Json<Vec<&'static str>> {
    axum::Json(
        PayloadContentType::ALL
            .into_iter()
            .map(PayloadContentType::as_str)
            .collect(),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// Required when the instance sets `HEALTH_CHECK_KEY`.
    key: Option<String>,
}

/// Upstream's `HealthCheck`, plus the delivery worker and the queue.
#[derive(Serialize, ToSchema)]
#[schema(as = HealthCheck)]
pub struct HealthCheck {
    /// The database answered within `HEALTH_CHECK_TIMEOUT`.
    database: bool,
    /// `sqlite` or `postgres`.
    database_backend: &'static str,
    #[schema(value_type = Option<bool>)]
    pulsar: Option<bool>,
    #[schema(value_type = Option<bool>)]
    object_storage: Option<bool>,
    database_duration_ms: u64,
    pulsar_duration_ms: Option<u64>,
    object_storage_duration_ms: Option<u64>,
    /// The delivery worker of this process turns its loop; `null` when this process runs no
    /// worker (`hook0 api`).
    worker: Option<bool>,
    /// Time since the worker of this process last turned its loop.
    worker_heartbeat_age_ms: Option<u64>,
    /// How long the oldest due attempt has waited to be claimed, all workers together: the
    /// worker lag. `null` when the queue could not be read.
    worker_lag_seconds: Option<f64>,
    /// Pending attempts due now, delayed and in flight.
    queue: Option<QueueHealth>,
    queue_duration_ms: u64,
    total_duration_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct QueueHealth {
    due: i64,
    delayed: i64,
    in_flight: i64,
}

/// Public unless `HEALTH_CHECK_KEY` is set (upstream hides it entirely when unset; an operator's
/// probe should not need configuration to work). 503 when the database does not answer within
/// `HEALTH_CHECK_TIMEOUT`, or when this process's worker is stuck.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "instance.health",
    tag = "instance",
    params(HealthQuery),
    responses(
        (status = 200, description = "Healthy", body = HealthCheck),
        (status = 503, description = "The database is unreachable or the worker is stuck", body = HealthCheck),
    )
)]
pub async fn health(
    State(state): State<AppState>,
    Query(q): Query<HealthQuery>,
) -> ApiResult<(StatusCode, axum::Json<HealthCheck>)> {
    if let Some(expected) = state
        .config
        .health_check_key
        .as_deref()
        .filter(|k| !k.is_empty())
    {
        let given = q.key.unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::forbidden());
        }
    }
    let started = Instant::now();
    let timeout = state.config.health_check_timeout;
    let timed = |since: Instant| since.elapsed().as_millis() as u64;
    let ping = async {
        let at = Instant::now();
        let result = tokio::time::timeout(timeout, state.store.ping()).await;
        (matches!(result, Ok(Ok(()))), timed(at), result)
    };
    let queue = async {
        let at = Instant::now();
        let result = tokio::time::timeout(timeout, state.store.queue_stats()).await;
        (result.ok().and_then(Result::ok), timed(at))
    };
    let ((database, database_ms, ping_result), (queue, queue_ms)) = tokio::join!(ping, queue);
    match ping_result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "health: the database does not answer"),
        Err(_) => tracing::warn!(?timeout, "health: the database did not answer in time"),
    }
    let heartbeat = metrics().worker_heartbeat_age();
    let worker = heartbeat.map(|age| age < WORKER_STALLED_AFTER);
    let healthy = database && worker != Some(false);
    let body = HealthCheck {
        database,
        database_backend: state.store.backend(),
        pulsar: None,
        object_storage: None,
        database_duration_ms: database_ms,
        pulsar_duration_ms: None,
        object_storage_duration_ms: None,
        worker,
        worker_heartbeat_age_ms: heartbeat.map(|age| age.as_millis() as u64),
        worker_lag_seconds: queue.map(|q| q.oldest_due_age().as_secs_f64()),
        queue: queue.map(|q| QueueHealth {
            due: q.due,
            delayed: q.delayed,
            in_flight: q.in_flight,
        }),
        queue_duration_ms: queue_ms,
        total_duration_ms: timed(started),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, axum::Json(body)))
}
