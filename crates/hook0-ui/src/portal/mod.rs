//! The consumer portal: the pages a sender's customer opens (on their own, or in an iframe in
//! the sender's product) to manage their own endpoints. The session secret is the first path
//! segment after `/portal/` (third-party cookies are blocked in iframes, so no cookie carries
//! it), and every page calls the portal API (`/api/v1/portal/…`) in-process with it, so the
//! scope and the capabilities are exactly the API's.
//!
//! Headers differ from the dashboard's: `frame-ancestors` names the session's allowed origins,
//! the referrer is never sent (the URL holds the secret), and nothing is cached. Without
//! cookies, the secret in the path is what an attacker on another site cannot forge; posts are
//! also refused when their `Origin` is not this instance.

mod deliveries;
mod subscriptions;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use crate::client::{Answer, Problem};
use crate::pages::readable_time;
use crate::UiState;

/// The portal's routes (merged beside the dashboard's, with their own headers).
pub fn router(state: UiState) -> Router {
    Router::new()
        .route("/portal/{secret}", get(subscriptions::home))
        .route("/portal/{secret}/theme.css", get(theme_css))
        .route(
            "/portal/{secret}/subscriptions",
            post(subscriptions::create),
        )
        .route(
            "/portal/{secret}/subscriptions/new",
            get(subscriptions::new_form),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}",
            get(subscriptions::detail),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/edit",
            get(subscriptions::edit_form).post(subscriptions::edit),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/state",
            post(subscriptions::set_state),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/delete",
            post(subscriptions::delete),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/secret",
            post(subscriptions::reveal_secret),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/rotate",
            post(subscriptions::rotate_secret),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/test",
            post(subscriptions::send_test),
        )
        .route(
            "/portal/{secret}/subscriptions/{id}/redeliver",
            post(subscriptions::redeliver),
        )
        .route("/portal/{secret}/attempts/{id}", get(deliveries::attempt))
        .route(
            "/portal/{secret}/attempts/{id}/resend",
            post(deliveries::resend),
        )
        .with_state(state)
}

/// What each portal page knows of its session.
pub(crate) struct Portal {
    pub secret: String,
    /// `/portal/<secret>`: every link and form starts here.
    pub base: String,
    pub application_name: String,
    pub labels: Vec<(String, String)>,
    pub expires_at: String,
    pub can_manage: bool,
    pub can_view_secret: bool,
    pub can_rotate: bool,
    pub can_retry: bool,
    pub can_send_test: bool,
    /// `light`, `dark`, or empty for the customer's own preference.
    pub theme_mode: String,
    pub has_accent: bool,
    pub logo_url: Option<String>,
    allowed_origins: Vec<String>,
}

impl Portal {
    /// The session behind `secret`, or the page saying why there is none.
    pub async fn open(ui: &UiState, secret: &str) -> Result<Self, Response> {
        let answer = ui
            .api
            .call(Method::GET, "/portal/session", Some(secret), None)
            .await;
        if !answer.is_success() {
            return Err(gone(&answer));
        }
        let s = &answer.body;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let granted = |name: &str| {
            s["capabilities"]
                .as_array()
                .is_some_and(|caps| caps.iter().any(|c| c == name))
        };
        Ok(Self {
            secret: secret.to_owned(),
            base: format!("/portal/{secret}"),
            application_name: text(&s["application_name"]),
            labels: s["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect(),
            expires_at: readable_time(&text(&s["expires_at"])),
            can_manage: granted("manage_subscriptions"),
            can_view_secret: granted("view_secret"),
            can_rotate: granted("rotate_secret"),
            can_retry: granted("retry"),
            can_send_test: granted("send_test"),
            theme_mode: match s["theme"]["mode"].as_str() {
                Some(mode @ ("light" | "dark")) => mode.to_owned(),
                _ => String::new(),
            },
            has_accent: s["theme"]["accent"].is_string(),
            logo_url: s["theme"]["logo_url"].as_str().map(str::to_owned),
            allowed_origins: s["allowed_origins"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// Calls the portal API as this session.
    pub async fn call(
        &self,
        ui: &UiState,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        ui.api
            .call(method, &format!("/portal{path}"), Some(&self.secret), body)
            .await
    }

    /// A page of this session, with its headers.
    pub fn respond(&self, status: StatusCode, template: &impl Template) -> Response {
        let logo_origin = self
            .logo_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| format!(" {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        let ancestors = if self.allowed_origins.is_empty() {
            "'none'".to_owned()
        } else {
            self.allowed_origins.join(" ")
        };
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{logo_origin}; \
             connect-src 'self'; form-action 'self'; frame-ancestors {ancestors}; base-uri 'none'"
        );
        with_headers(crate::page(status, template, Vec::new()), &policy)
    }

    /// A `303 See Other` to a page of this session (`to` is relative to [`Portal::base`]).
    pub fn redirect(&self, to: &str) -> Response {
        let response = crate::redirect(&format!("{}{to}", self.base), Vec::new());
        with_headers(response, "default-src 'none'; frame-ancestors 'none'")
    }
}

/// Headers of every portal answer: the policy given, no referrer (the URL holds the secret),
/// never cached.
fn with_headers(mut response: Response, policy: &str) -> Response {
    let h = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(policy) {
        h.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "portal/gone.html")]
struct GonePage<'a> {
    heading: &'a str,
    message: &'a str,
}

/// The page of a link that does not (or no longer) work. It shows nothing of the session and
/// offers no action, so it may be framed anywhere: the customer sees why in the sender's page.
fn gone(answer: &Answer) -> Response {
    let detail = answer.problem().detail;
    let (status, heading, message) = if answer.status == StatusCode::FORBIDDEN {
        let heading = if detail.contains("expired") {
            "This link has expired"
        } else if detail.contains("revoked") {
            "This link was revoked"
        } else {
            "This link is not valid"
        };
        (
            StatusCode::FORBIDDEN,
            heading,
            "Ask for a new link where you found this one: portal links work for a limited time.",
        )
    } else {
        (
            answer.status,
            "Try again in a moment",
            "The server could not answer; nothing was changed.",
        )
    };
    let page = crate::page(status, &GonePage { heading, message }, Vec::new());
    with_headers(
        page,
        "default-src 'none'; style-src 'self'; form-action 'none'; frame-ancestors *; base-uri 'none'",
    )
}

/// `GET /portal/{secret}/theme.css`: the session's accent colour (checked when the session
/// was minted, so it goes into CSS as it is), with a text colour that stays readable on it.
async fn theme_css(State(ui): State<UiState>, Path(secret): Path<String>) -> Response {
    let answer = ui
        .api
        .call(Method::GET, "/portal/session", Some(&secret), None)
        .await;
    let accent = answer.body["theme"]["accent"]
        .as_str()
        .filter(|_| answer.is_success())
        .unwrap_or_default();
    let css = match rgb(accent) {
        Some((r, g, b)) => {
            // Relative luminance (sRGB), then whichever of black or white contrasts more.
            let lin = |c: u8| {
                let c = f64::from(c) / 255.0;
                if c <= 0.03928 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            };
            let l = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
            let fg = if (l + 0.05) / 0.05 > 1.05 / (l + 0.05) {
                "#000000"
            } else {
                "#ffffff"
            };
            format!(
                ".portal-brand {{ border-top: 4px solid {accent}; }}\n\
                 .portal button:not(.link):not(.danger), .portal a.button {{ background: {accent}; border-color: {accent}; color: {fg}; }}\n"
            )
        }
        None => String::new(),
    };
    with_headers(
        ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response(),
        "default-src 'none'",
    )
}

/// `#rgb` or `#rrggbb` as components.
fn rgb(hex: &str) -> Option<(u8, u8, u8)> {
    let hex = hex.strip_prefix('#')?;
    let full = match hex.len() {
        3 => hex.chars().flat_map(|c| [c, c]).collect::<String>(),
        6 => hex.to_owned(),
        _ => return None,
    };
    let part = |i: usize| u8::from_str_radix(full.get(i..i + 2)?, 16).ok();
    Some((part(0)?, part(2)?, part(4)?))
}

/// The problem of a refused call, for the page to show; `None` on success.
pub(crate) fn problem_of(answer: &Answer) -> Option<Problem> {
    (!answer.is_success()).then(|| answer.problem())
}

/// Whether a post may come from a portal page: its `Origin` is this instance, or absent, or
/// `null`, which is what Chromium sends from a page whose referrer policy is `no-referrer` (ours).
/// The secret in the path is what a forger cannot know; this check is the second line.
pub(crate) fn posted_here(ui: &UiState, headers: &axum::http::HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_some_and(|o| o == "null")
        || crate::session::same_origin(ui, headers)
}

/// A post not sent from one of our pages.
pub(crate) fn forged() -> Response {
    with_headers(
        (
            StatusCode::FORBIDDEN,
            "This form was not sent from the portal page; nothing was changed.",
        )
            .into_response(),
        "default-src 'none'",
    )
}

#[cfg(test)]
mod tests {
    use super::rgb;

    #[test]
    fn accents_parse_in_both_lengths() {
        assert_eq!(rgb("#0a7"), Some((0x00, 0xaa, 0x77)));
        assert_eq!(rgb("#10aa7f"), Some((0x10, 0xaa, 0x7f)));
        assert_eq!(rgb("red"), None);
        assert_eq!(rgb("#12345"), None);
    }
}
