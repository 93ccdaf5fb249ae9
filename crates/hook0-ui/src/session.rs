//! Who is browsing, and whether a form really comes from our pages.
//!
//! - The session is the API's own: the access and refresh Biscuits of `POST /auth/login`, kept
//!   in `HttpOnly`, `SameSite=Lax` cookies (`Secure` when `APP_URL` is https). An expired access
//!   token is renewed on the server with the refresh token, and the new pair replaces the
//!   cookies in the same answer.
//! - Every form carries a CSRF token that must equal the `hook0_csrf` cookie (double submit;
//!   the cookie is `SameSite=Strict`), and a request whose `Origin` is not ours is refused.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::client::Answer;
use crate::UiState;

pub const ACCESS_COOKIE: &str = "hook0_access";
pub const REFRESH_COOKIE: &str = "hook0_refresh";
pub const CSRF_COOKIE: &str = "hook0_csrf";

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` header for our cookies.
pub fn set_cookie(
    ui: &UiState,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if ui.secure_cookies {
        cookie.push_str("; Secure");
    }
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("hook0_invalid=1"))
}

/// The cookies that end a session.
pub fn clear_session(ui: &UiState) -> Vec<HeaderValue> {
    vec![
        set_cookie(ui, ACCESS_COOKIE, "", "Lax", Some(0)),
        set_cookie(ui, REFRESH_COOKIE, "", "Lax", Some(0)),
    ]
}

/// The cookies of a session the API just opened (its `LoginResponse`).
pub fn session_cookies(ui: &UiState, login: &Value) -> Vec<HeaderValue> {
    let token = |key: &str| login[key].as_str().unwrap_or_default();
    vec![
        set_cookie(ui, ACCESS_COOKIE, token("access_token"), "Lax", None),
        set_cookie(ui, REFRESH_COOKIE, token("refresh_token"), "Lax", None),
    ]
}

/// The CSRF token of this browser, and the cookie to set when it has none yet.
pub fn csrf(ui: &UiState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(token) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (token.to_owned(), None)
        }
        _ => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            let set = set_cookie(ui, CSRF_COOKIE, &token, "Strict", None);
            (token, Some(set))
        }
    }
}

/// Whether a post comes from one of our own pages: its `Origin`, when the browser sends one,
/// is this instance's (or the host it was asked for).
pub fn same_origin(ui: &UiState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin == ui.origin
        || origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host)
}

/// Whether a form post is ours: same origin (when the browser says), and the form's token
/// equal to the cookie's.
pub fn form_is_ours(ui: &UiState, headers: &HeaderMap, form_token: &str) -> bool {
    if !same_origin(ui, headers) {
        return false;
    }
    match cookie(headers, CSRF_COOKIE) {
        Some(cookie) => {
            !form_token.is_empty() && bool::from(cookie.as_bytes().ct_eq(form_token.as_bytes()))
        }
        None => false,
    }
}

/// A signed-in browser: its tokens, renewed as needed, and the cookies its answer must set.
pub struct Session<'a> {
    ui: &'a UiState,
    access: String,
    refresh: Option<String>,
    renewed: bool,
    pub set_cookies: Vec<HeaderValue>,
}

impl<'a> Session<'a> {
    /// The browser's session, or `None` (sign in first) when it has no token at all.
    pub fn from_headers(ui: &'a UiState, headers: &HeaderMap) -> Option<Self> {
        let access = cookie(headers, ACCESS_COOKIE).map(str::to_owned);
        let refresh = cookie(headers, REFRESH_COOKIE).map(str::to_owned);
        if access.is_none() && refresh.is_none() {
            return None;
        }
        Some(Self {
            ui,
            access: access.unwrap_or_default(),
            refresh,
            renewed: false,
            set_cookies: Vec::new(),
        })
    }

    /// Calls the API as this user. An expired access token is renewed once with the refresh
    /// token; so is one refused an organization, since an access token lists the user's
    /// memberships as they were when it was made (a new organization, a new invitation). An
    /// answer of 401/403 for the token itself means the session is over.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let answer = self
            .ui
            .api
            .call(method.clone(), path, Some(&self.access), body)
            .await;
        let stale = self.token_refused(&answer)
            || (answer.status == StatusCode::FORBIDDEN && answer.problem_id() == "Forbidden");
        if !stale || self.renewed {
            return answer;
        }
        self.renewed = true;
        let Some(refresh) = self.refresh.clone() else {
            return answer;
        };
        let renewed = self
            .ui
            .api
            .call(Method::POST, "/auth/refresh", Some(&refresh), None)
            .await;
        if !renewed.is_success() {
            return answer;
        }
        self.access = renewed.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.refresh = renewed.body["refresh_token"].as_str().map(str::to_owned);
        self.set_cookies = session_cookies(self.ui, &renewed.body);
        self.ui
            .api
            .call(method, path, Some(&self.access), body)
            .await
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    /// Whether the answer refuses the token itself (not the action).
    pub fn token_refused(&self, answer: &Answer) -> bool {
        matches!(
            answer.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) && matches!(
            answer.problem_id(),
            "AuthInvalidBiscuit" | "AuthNoAuthorizationHeader" | "AuthInvalidAuthorizationHeader"
        )
    }

    /// Ends the session with the API (`POST /auth/logout`).
    pub async fn logout(&mut self) {
        let _ = self.call(Method::POST, "/auth/logout", None).await;
    }
}
