//! Hook0's dashboard: pages rendered on the server from compile-time checked templates
//! (askama, auto-escaped), one stylesheet and one small script embedded in the binary. Every
//! page reads and writes through the REST API in-process ([`client`]), as the signed-in user
//! ([`session`]), so it can do nothing the API forbids; every form works without JavaScript.
//!
//! Paths follow upstream's web app, so the links our mails send and users' habits work:
//! `/login`, `/register`, `/organizations/{org}/dashboard`,
//! `/organizations/{org}/applications/{app}/dashboard`, …
//!
//! Beside it, the consumer portal ([`portal`]): the pages a sender's customers open, with a
//! portal session's secret, to manage their own endpoints.

mod chart;
pub mod client;
mod pages;
mod portal;
pub mod session;

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use client::Api;

/// What the pages share: the API, and how to set cookies.
#[derive(Clone)]
pub struct UiState {
    pub api: Api,
    /// `Secure` cookies (the instance is served over https).
    pub secure_cookies: bool,
    /// This instance's origin (`scheme://host[:port]` of `APP_URL`), for the Origin check.
    pub origin: String,
    pub registration_open: bool,
    pub password_minimum_length: usize,
}

/// Settings of the dashboard.
#[derive(Clone, Debug)]
pub struct UiConfig {
    /// `APP_URL`, the public address of the instance.
    pub app_url: String,
    pub registration_open: bool,
    pub password_minimum_length: usize,
}

/// The dashboard's routes; `api` is the API router it calls in-process.
pub fn router(api: Router, config: UiConfig) -> Router {
    let origin = url::Url::parse(&config.app_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let state = UiState {
        api: Api::new(api),
        secure_cookies: config.app_url.starts_with("https://"),
        origin,
        registration_open: config.registration_open,
        password_minimum_length: config.password_minimum_length,
    };
    let portal = portal::router(state.clone());
    Router::new()
        .route("/", get(pages::account::home))
        .route(
            "/login",
            get(pages::account::login_page).post(pages::account::login),
        )
        .route(
            "/register",
            get(pages::account::register_page).post(pages::account::register),
        )
        .route("/logout", post(pages::account::logout))
        .route("/verify-email", get(pages::recovery::verify_email))
        .route(
            "/begin-reset-password",
            get(pages::recovery::begin_reset_page).post(pages::recovery::begin_reset),
        )
        .route(
            "/reset-password",
            get(pages::recovery::reset_page).post(pages::recovery::reset),
        )
        .route("/settings", get(pages::recovery::settings))
        .route("/settings/password", post(pages::recovery::change_password))
        .route(
            "/organizations",
            get(pages::organizations::list).post(pages::organizations::create),
        )
        .route(
            "/organizations/{org}/dashboard",
            get(pages::organizations::dashboard),
        )
        .route(
            "/organizations/{org}/applications",
            post(pages::applications::create),
        )
        .route(
            "/organizations/{org}/settings",
            get(pages::organizations::settings).post(pages::organizations::rename),
        )
        .route(
            "/organizations/{org}/delete",
            post(pages::organizations::delete),
        )
        .route(
            "/organizations/{org}/members",
            get(pages::members::list).post(pages::members::invite),
        )
        .route(
            "/organizations/{org}/service_tokens",
            get(pages::service_tokens::list).post(pages::service_tokens::create),
        )
        .route(
            "/organizations/{org}/service_tokens/rename",
            post(pages::service_tokens::rename),
        )
        .route(
            "/organizations/{org}/applications/{app}/application_secrets/rename",
            post(pages::api_keys::rename),
        )
        .route(
            "/organizations/{org}/service_tokens/revoke",
            post(pages::service_tokens::revoke),
        )
        .route(
            "/organizations/{org}/service_tokens/restrict",
            post(pages::service_tokens::restrict),
        )
        .route(
            "/organizations/{org}/members/role",
            post(pages::members::set_role),
        )
        .route(
            "/organizations/{org}/members/remove",
            post(pages::members::remove),
        )
        .route(
            "/organizations/{org}/applications/{app}/application_secrets",
            get(pages::api_keys::list).post(pages::api_keys::create),
        )
        .route(
            "/organizations/{org}/applications/{app}/portal_sessions",
            get(pages::portal_links::list).post(pages::portal_links::create),
        )
        .route(
            "/organizations/{org}/applications/{app}/portal_sessions/revoke",
            post(pages::portal_links::revoke),
        )
        .route(
            "/organizations/{org}/applications/{app}/application_secrets/delete",
            post(pages::api_keys::delete),
        )
        .route(
            "/organizations/{org}/applications/{app}/dashboard",
            get(pages::applications::dashboard),
        )
        .route(
            "/organizations/{org}/applications/{app}/activity",
            get(pages::activity::list),
        )
        .route(
            "/organizations/{org}/applications/{app}/event_types",
            get(pages::event_types::list).post(pages::event_types::create),
        )
        .route(
            "/organizations/{org}/applications/{app}/event_types/schema",
            post(pages::event_types::set_schema),
        )
        .route(
            "/organizations/{org}/applications/{app}/event_types/deactivate",
            post(pages::event_types::deactivate),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions",
            get(pages::subscriptions::list).post(pages::subscriptions::create),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}",
            get(pages::subscriptions::detail),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}/state",
            post(pages::subscriptions::set_state),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}/edit",
            get(pages::subscriptions::edit_page).post(pages::subscriptions::edit),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}/signing",
            post(pages::subscriptions::signing),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}/rotate",
            post(pages::subscriptions::rotate),
        )
        .route(
            "/organizations/{org}/applications/{app}/settings",
            get(pages::applications::settings).post(pages::applications::save_settings),
        )
        .route(
            "/organizations/{org}/applications/{app}/delete",
            post(pages::applications::delete),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}/dead_letters",
            get(pages::subscriptions::redeliver_page).post(pages::subscriptions::redeliver),
        )
        .route(
            "/organizations/{org}/applications/{app}/subscriptions/{id}/delete",
            post(pages::subscriptions::delete),
        )
        .route(
            "/organizations/{org}/applications/{app}/events",
            get(pages::events::list),
        )
        .route(
            "/organizations/{org}/applications/{app}/events/{id}",
            get(pages::events::detail),
        )
        .route(
            "/organizations/{org}/applications/{app}/events/{id}/replay",
            post(pages::events::replay),
        )
        .route(
            "/organizations/{org}/applications/{app}/logs",
            get(pages::logs::list),
        )
        .route(
            "/organizations/{org}/applications/{app}/logs/{id}",
            get(pages::logs::detail),
        )
        .route(
            "/organizations/{org}/applications/{app}/logs/{id}/retry",
            post(pages::logs::retry),
        )
        .route(
            "/organizations/{org}/applications/{app}/send",
            get(pages::send::form).post(pages::send::send),
        )
        .route("/static/hook0.css", get(stylesheet))
        .route("/static/hook0.js", get(script))
        .layer(axum::middleware::map_response(page_headers))
        .with_state(state)
        // The portal's pages have their own headers (they may be framed by the sender's site).
        .merge(portal)
}

/// Nothing runs but our own script, nothing loads from elsewhere, no page may be framed, and
/// pages (which show per-user data) are never cached.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/hook0.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/hook0.js"),
    )
}

/// A rendered page with its status and the cookies it must set.
pub(crate) fn page(
    status: StatusCode,
    template: &impl Template,
    cookies: Vec<HeaderValue>,
) -> Response {
    match template.render() {
        Ok(html) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            for cookie in cookies {
                headers.append(header::SET_COOKIE, cookie);
            }
            (status, headers, html).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A `303 See Other` to `to`, setting `cookies`.
pub(crate) fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    (StatusCode::SEE_OTHER, headers).into_response()
}
