//! CORS for browser apps on other origins (`CORS_ALLOWED_ORIGINS`), with upstream's allowed
//! headers, methods and max-age. A request whose `Origin` is not listed gets no CORS header at
//! all (its preflight falls through to the routes and answers 405), so the browser refuses it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The origins allowed to call the API from a browser, and the layer answering them.
pub struct Cors {
    origins: Vec<HeaderValue>,
    layer: CorsLayer,
}

impl Cors {
    /// `None` when no origin is listed: no CORS at all, upstream's default.
    pub fn new(origins: &[String]) -> Option<Arc<Self>> {
        let origins: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.is_empty() {
            return None;
        }
        let layer = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.clone()))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::ACCEPT,
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("hook0-client-options"),
            ])
            // A browser client pages with `Link` and backs off with `Retry-After`.
            .expose_headers([header::LINK, header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600));
        Some(Arc::new(Self { origins, layer }))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.origins.iter().any(|o| o == origin)
    }
}

/// Middleware: CORS headers (and preflight answers) for listed origins only. Every answer says
/// it varies by `Origin`, so a cache never hands one origin's answer to another.
pub async fn cors(cors: Arc<Cors>, request: Request, next: Next) -> Response {
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .is_some_and(|origin| cors.allows(origin));
    let mut response = if allowed {
        match cors.layer.layer(next).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if !headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"origin"))
    {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}
