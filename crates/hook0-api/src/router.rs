//! The route table of REST API v1 and the layers around it: path normalization (upstream trims
//! trailing slashes and merges `//`, and SDKs rely on both), body limit, security headers, rate
//! limits ([`crate::rate_limit`]), and one span plus metrics per request ([`crate::observe`]).
//!
//! Every `/api/v1` route is registered with `utoipa_axum::routes!`, which registers its OpenAPI
//! operation at the same time (see [`crate::openapi`]). Beside them the router serves only
//! [`UNDOCUMENTED_ROUTES`]: the document itself, its browser page and `/metrics`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use tokio::net::TcpListener;
use tower::Layer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client_ip;
use crate::cors::Cors;
use crate::error::ApiError;
use crate::openapi::{self, ApiDoc};
use crate::rate_limit::{self, Limiters};
use crate::routes::email_links::MailCooldown;
use crate::routes::*;
use crate::state::AppState;

/// The routes served outside the OpenAPI document: `(method, path)`.
pub const UNDOCUMENTED_ROUTES: [(&str, &str); 3] = [
    ("GET", "/api/v1/swagger.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/metrics"),
];

/// Every documented route, under `/api/v1`: registering a handler here adds its operation to
/// the document.
fn api_routes() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::<AppState>::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(email_links::verify_email))
        .routes(routes!(email_links::resend_verification_email))
        .routes(routes!(email_links::begin_reset_password))
        .routes(routes!(email_links::reset_password))
        .routes(routes!(auth::change_password))
        .routes(routes!(register::register))
        .routes(routes!(organizations::list, organizations::create))
        .routes(routes!(
            organizations::get,
            organizations::edit,
            organizations::delete
        ))
        .routes(routes!(
            members::invite,
            members::revoke,
            members::edit_role
        ))
        .routes(routes!(service_tokens::list, service_tokens::create))
        .routes(routes!(
            service_tokens::get,
            service_tokens::edit,
            service_tokens::delete
        ))
        .routes(routes!(applications::list, applications::create))
        .routes(routes!(
            applications::get,
            applications::update,
            applications::delete
        ))
        .routes(routes!(
            application_secrets::list,
            application_secrets::create
        ))
        .routes(routes!(
            application_secrets::update,
            application_secrets::delete
        ))
        .routes(routes!(event_types::list, event_types::create))
        .routes(routes!(event_types::get, event_types::delete))
        .routes(routes!(event_types::set_schema))
        .routes(routes!(subscriptions::list, subscriptions::create))
        .routes(routes!(
            subscriptions::get,
            subscriptions::update,
            subscriptions::delete
        ))
        .routes(routes!(subscriptions::rotate_secret))
        .routes(routes!(ordering_keys::list))
        .routes(routes!(dead_letters::redeliver))
        .routes(routes!(events::ingest))
        .routes(routes!(events::list))
        .routes(routes!(events::get))
        .routes(routes!(events::replay))
        .routes(routes!(request_attempts::list))
        .routes(routes!(request_attempts::get))
        .routes(routes!(dead_letters::retry))
        .routes(routes!(dead_letters::list))
        .routes(routes!(operational_events::list))
        .routes(routes!(request_attempts::get_response))
        .routes(routes!(instance::instance))
        .routes(routes!(instance::errors))
        .routes(routes!(instance::payload_content_types))
        .routes(routes!(instance::health))
        .routes(routes!(quotas::get))
        .routes(routes!(events_per_day::for_application))
        .routes(routes!(events_per_day::for_organization))
        .routes(routes!(events_per_day::deliveries_for_application))
        .routes(routes!(portal_sessions::create, portal_sessions::list))
        .routes(routes!(portal_sessions::revoke))
        .routes(routes!(portal::session))
        .routes(routes!(portal::event_types))
        .routes(routes!(
            portal::list_subscriptions,
            portal::create_subscription
        ))
        .routes(routes!(
            portal::get_subscription,
            portal::update_subscription,
            portal::delete_subscription
        ))
        .routes(routes!(portal::reveal_secret))
        .routes(routes!(portal::rotate_secret))
        .routes(routes!(portal::send_test))
        .routes(routes!(portal::list_attempts))
        .routes(routes!(portal::get_attempt))
        .routes(routes!(portal::resend))
        .routes(routes!(portal::list_dead_letters))
        .routes(routes!(portal::redeliver_dead_letters));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

/// The OpenAPI document of everything [`router`] serves under `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(api_routes().split_for_parts().1)
}

/// Every route, with its handler and layers.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    let spec = bytes::Bytes::from(
        serde_json::to_vec(&openapi::finish(doc)).expect("the OpenAPI document serializes"),
    );
    let security_headers = state.config.security_headers;
    let body_limit = state.config.max_body_bytes;
    // Rate limits cover `/api/v1` only; the per-token one runs in the `Principal` extractor.
    let limiters = Limiters::new(&state.config.rate_limiting);
    let mut api = api.layer(Extension(Arc::new(MailCooldown::default())));
    if !limiters.is_off() {
        api = api.layer(axum::middleware::from_fn(move |request, next| {
            rate_limit::limit(limiters.clone(), request, next)
        }));
    }
    let router = api
        .route(
            "/api/v1/swagger.json",
            get(move || std::future::ready(openapi::spec_response(spec.clone()))),
        )
        .route("/api/v1/docs", get(openapi::docs_page))
        .route("/metrics", get(metrics::scrape))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { method_not_allowed() })
        .layer(axum::middleware::from_fn(crate::observe::observe))
        // A request (its body included) has this long to be read and answered: 408 past it.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.config.connection_limits.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(move |r| {
            add_security_headers(r, security_headers)
        }));
    let router = match Cors::new(&state.config.cors_allowed_origins) {
        Some(cors) => router.layer(axum::middleware::from_fn(move |request, next| {
            crate::cors::cors(cors.clone(), request, next)
        })),
        None => router,
    };
    // Outermost: the client's address is known before the rate limits and handlers run.
    let client_ip = Arc::new(state.config.client_ip.clone());
    router
        .layer(axum::middleware::from_fn(move |request, next| {
            client_ip::resolve_client_ip(client_ip.clone(), request, next)
        }))
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
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        // The old XSS auditor is gone from browsers and could be abused: `0` turns it off.
        h.insert(header::X_XSS_PROTECTION, HeaderValue::from_static("0"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    // Answers carry secrets and per-caller data (tokens, application and subscription
    // secrets): no cache may keep them, security headers or not.
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
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

/// Serves the API on `listener` until `shutdown` resolves, then drains open requests within
/// the configured grace ([`crate::listener`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Router::new(), shutdown).await
}

/// [`serve`], with more routes beside the API's (the dashboard).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.connection_limits;
    let app = tower::util::MapRequestLayer::new(normalize_path).layer(extra.merge(router(state)));
    crate::listener::serve(listener, app, limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(path: &str) -> String {
        let req = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn paths_are_normalized_like_upstream() {
        assert_eq!(normalized("/api/v1/event/"), "/api/v1/event");
        assert_eq!(normalized("//api/v1//events"), "/api/v1/events");
        assert_eq!(
            normalized("/api/v1/events/?application_id=x"),
            "/api/v1/events?application_id=x"
        );
        assert_eq!(normalized("/"), "/");
        assert_eq!(normalized("/api/v1/events"), "/api/v1/events");
    }
}
