//! The route table of REST API v1 and the layers around it: path normalization (upstream trims
//! trailing slashes and merges `//`, and SDKs rely on both), body limit, security headers.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tower::Layer;

use crate::error::ApiError;
use crate::routes::*;
use crate::state::AppState;

/// Every route of `/api/v1`, with its handler.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/organizations", get(organizations::list).post(organizations::create))
        .route(
            "/organizations/{id}",
            get(organizations::get).put(organizations::edit).delete(organizations::delete),
        )
        .route("/applications", get(applications::list).post(applications::create))
        .route(
            "/applications/{id}",
            get(applications::get).put(applications::update).delete(applications::delete),
        )
        .route("/application_secrets", get(application_secrets::list).post(application_secrets::create))
        .route(
            "/application_secrets/{token}",
            axum::routing::put(application_secrets::update).delete(application_secrets::delete),
        )
        .route("/event_types", get(event_types::list).post(event_types::create))
        .route("/event_types/{name}", get(event_types::get).delete(event_types::delete))
        .route("/subscriptions", get(subscriptions::list).post(subscriptions::create))
        .route(
            "/subscriptions/{id}",
            get(subscriptions::get).put(subscriptions::update).delete(subscriptions::delete),
        )
        .route("/event", post(events::ingest))
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::get))
        .route("/events/{id}/replay", post(events::replay))
        .route("/request_attempts", get(request_attempts::list))
        .route("/request_attempts/{id}", get(request_attempts::get))
        .route("/responses/{id}", get(request_attempts::get_response))
        .route("/instance", get(instance::instance))
        .route("/errors", get(instance::errors))
        .route("/payload_content_types", get(instance::payload_content_types))
        .route("/health", get(instance::health))
        .route("/quotas", get(quotas::get));
    let security_headers = state.config.security_headers;
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { method_not_allowed() })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(move |r| add_security_headers(r, security_headers)))
        .with_state(state)
}

/// A known path with another method: the catalogue has no id for 405, so the answer keeps the
/// 405 status with the `NotFound` id (no such operation), still as problem+json.
fn method_not_allowed() -> ApiError {
    let mut problem = hook0_core::problem::Problem::from(hook0_core::problem::ProblemId::NotFound)
        .with_detail("This path exists, but not with this HTTP method.");
    problem.status = 405;
    problem.title = "Method not allowed".into();
    ApiError(problem)
}

async fn add_security_headers(mut response: Response, enabled: bool) -> Response {
    if enabled {
        let h = response.headers_mut();
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
        h.insert(header::X_XSS_PROTECTION, HeaderValue::from_static("1; mode=block"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// Merges repeated slashes and drops a trailing one, before routing.
fn normalize_path(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    if path.contains("//") || (path.len() > 1 && path.ends_with('/')) {
        let mut clean = String::with_capacity(path.len());
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            clean.push('/');
            clean.push_str(segment);
        }
        if clean.is_empty() {
            clean.push('/');
        }
        if let Some(q) = uri.query() {
            clean.push('?');
            clean.push_str(q);
        }
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = clean.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = Uri::from_parts(parts) {
                *req.uri_mut() = new_uri;
            }
        }
    }
    req
}

/// Serves the API on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = tower::util::MapRequestLayer::new(normalize_path).layer(router(state));
    let service = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(path: &str) -> String {
        let req = Request::builder().uri(path).body(axum::body::Body::empty()).unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn paths_are_normalized_like_upstream() {
        assert_eq!(normalized("/api/v1/event/"), "/api/v1/event");
        assert_eq!(normalized("//api/v1//events"), "/api/v1/events");
        assert_eq!(normalized("/api/v1/events/?application_id=x"), "/api/v1/events?application_id=x");
        assert_eq!(normalized("/"), "/");
        assert_eq!(normalized("/api/v1/events"), "/api/v1/events");
    }
}
