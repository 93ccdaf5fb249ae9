//! One span and one set of metrics per HTTP request: method, route template, status, latency.
//!
//! The route is the matched template (`/api/v1/events/{id}`), never the raw path: ids would make
//! one metric series per resource, and paths and query strings may carry keys. Nothing from the
//! headers or the body is recorded, so tokens and payloads never reach the logs.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use hook0_core::metrics::metrics;
use tracing::field::Empty;
use tracing::Instrument;

/// The route label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "http_request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        method = %method,
        route = %route,
        status = Empty,
        latency_ms = Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::debug!("request finished"));
    metrics().http_request(method.as_str(), &route, status, elapsed);
    response
}
