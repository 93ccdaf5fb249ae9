//! `ANY /relay/in/{token}[/{path}]`: a request for a listener, held until its local server
//! answers, whose status, headers and body become this answer. So a local 500 is a failed
//! attempt that Hook0 retries, as it would be in production.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hook0_core::relay::{RelayError, RelayRequest};

use super::hub::RelayHub;

/// Headers that belong to one hop, never passed on.
pub(crate) fn hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

pub(super) async fn with_path(
    State(hub): State<Arc<RelayHub>>,
    Path((token, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    relay(hub, token, format!("/{path}"), request).await
}

pub(super) async fn at_root(
    State(hub): State<Arc<RelayHub>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    relay(hub, token, "/".to_owned(), request).await
}

async fn relay(hub: Arc<RelayHub>, token: String, path: String, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, hub.config.max_body_bytes).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the relay passes bodies up to {} bytes",
                hub.config.max_body_bytes
            ),
        )
            .into_response();
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &parts.headers {
        if hop_by_hop(name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            None => headers.push((name.as_str().to_owned(), value)),
        }
    }
    let relayed = RelayRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_owned),
        headers,
        body: body.to_vec(),
    };
    match hub.forward_to(&token, relayed).await {
        Ok(answer) => {
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            for (name, value) in answer.headers {
                if hop_by_hop(&name) {
                    continue;
                }
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Err(error) => refusal(error),
    }
}

/// The answer when the listener could not answer: the sender (Hook0's worker, or anyone)
/// retries on 503 and 429, as their `Retry-After` says.
pub(crate) fn refusal(error: RelayError) -> Response {
    let (status, retry_after) = match error {
        RelayError::NotConnected => (StatusCode::SERVICE_UNAVAILABLE, Some("30")),
        RelayError::Busy => (StatusCode::TOO_MANY_REQUESTS, Some("1")),
        RelayError::TimedOut => (StatusCode::GATEWAY_TIMEOUT, None),
        RelayError::Disconnected => (StatusCode::BAD_GATEWAY, None),
    };
    let mut response = (status, error.to_string()).into_response();
    if let Some(after) = retry_after {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from_static(after),
        );
    }
    response
}
