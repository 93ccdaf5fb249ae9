//! Instance-level, unauthenticated routes: `/instance`, `/errors`, `/payload_content_types`
//! and `/health`.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::model::PayloadContentType;
use hook0_core::problem::{Problem, ProblemId};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

pub async fn instance(State(state): State<AppState>) -> axum::Json<Value> {
    axum::Json(json!({
        // Biscuit sessions are not enabled in this build: no key to publish yet.
        "biscuit_public_key": "",
        "registration_disabled": true,
        "password_minimum_length": 12,
        "auto_db_migration": true,
        "application_secret_compatibility": state.config.application_secret_compatibility,
        "quota_enforcement": false,
        "matomo": null,
        "formbricks": null,
        "support_email_address": "",
        "cloudflare_turnstile_site_key": null,
    }))
}

pub async fn errors() -> axum::Json<Vec<Problem>> {
    axum::Json(ProblemId::ALL.into_iter().map(Problem::from).collect())
}

pub async fn payload_content_types() -> axum::Json<Vec<&'static str>> {
    axum::Json(PayloadContentType::ALL.into_iter().map(PayloadContentType::as_str).collect())
}

#[derive(Deserialize)]
pub struct HealthQuery {
    key: Option<String>,
}

/// Public unless `HEALTH_CHECK_KEY` is set (upstream hides it entirely when unset; an operator's
/// probe should not need configuration to work).
pub async fn health(State(state): State<AppState>, Query(q): Query<HealthQuery>) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    if let Some(expected) = state.config.health_check_key.as_deref().filter(|k| !k.is_empty()) {
        let given = q.key.unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::forbidden());
        }
    }
    let started = Instant::now();
    let database = state.store.ping().await;
    let database_ms = started.elapsed().as_millis() as u64;
    let healthy = database.is_ok();
    let body = json!({
        "database": healthy,
        "database_backend": state.store.backend(),
        "pulsar": null,
        "object_storage": null,
        "database_duration_ms": database_ms,
        "pulsar_duration_ms": null,
        "object_storage_duration_ms": null,
        "total_duration_ms": started.elapsed().as_millis() as u64,
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, axum::Json(body)))
}
