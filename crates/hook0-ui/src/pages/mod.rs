//! One module per area of the dashboard. Handlers read the browser's session, call the API,
//! and render a template; a refused call shows the API's problem in the page.

pub mod account;
pub mod activity;
pub mod api_keys;
pub mod applications;
pub mod attempts;
pub mod event_types;
pub mod events;
pub mod logs;
pub mod members;
pub mod organizations;
pub mod portal_links;
pub mod recovery;
pub mod request_sent;
pub mod send;
pub mod service_tokens;
pub mod subscriptions;

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use crate::client::Answer;
use crate::session::{self, Session};
use crate::{page, redirect, UiState};

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    title: &'a str,
    message: &'a str,
}

/// What a page does when the API refused to read what it shows: to the login page when the
/// session is over; else the API's answer as a page (a foreign organization reads as not
/// found, exactly as the API refuses it).
pub(crate) fn refused(
    _ui: &UiState,
    session: &Session<'_>,
    csrf: &str,
    answer: &Answer,
) -> Response {
    if session.token_refused(answer) {
        // The cookies are left alone: another answer may just have renewed them, and the login
        // page sends a browser whose session works back to its pages.
        return redirect("/login", Vec::new());
    }
    let (status, title, message) = match answer.status {
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => (
            StatusCode::NOT_FOUND,
            "Not found",
            "This page does not exist, or you may not see it.",
        ),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => (
            answer.status,
            "Try again in a moment",
            "The server is busy; nothing was changed.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not answer; nothing was changed.",
        ),
    };
    let template = ErrorPage {
        signed_in: true,
        csrf,
        title,
        message,
    };
    page(status, &template, session.set_cookies.clone())
}

/// A form posted by a signed-in browser: refused when it is not ours (CSRF token, Origin), sent
/// to the login page when signed out; else the session and the browser's CSRF token.
pub(crate) fn signed_in_form<'a>(
    ui: &'a UiState,
    headers: &axum::http::HeaderMap,
    form_token: &str,
) -> Result<(Session<'a>, String), Response> {
    let (csrf, _) = session::csrf(ui, headers);
    if !session::form_is_ours(ui, headers, form_token) {
        return Err(forged(&csrf, true));
    }
    match Session::from_headers(ui, headers) {
        Some(session) => Ok((session, csrf)),
        None => Err(redirect("/login", Vec::new())),
    }
}

/// The user's place among organizations, as an organization's pages show it.
pub(crate) struct Membership {
    /// The role in this organization (`editor`, `viewer`, `master`), empty when none.
    pub role: String,
    /// The user's other organizations, for the switcher.
    pub others: Vec<organizations::OrganizationItem>,
}

/// A page of one organization opened by a signed-in browser: what every such page starts with
/// (the session, the CSRF token, the organization as the API answers it, the user's role and
/// other organizations), and the answer that ends it with the cookies of both.
pub(crate) struct OrgPage<'a> {
    pub session: Session<'a>,
    pub csrf: String,
    /// A new CSRF cookie, when the browser had none.
    new_csrf: Option<axum::http::HeaderValue>,
    pub id: uuid::Uuid,
    /// `GET /organizations/{id}`.
    pub info: serde_json::Value,
    pub role: String,
    pub others: Vec<organizations::OrganizationItem>,
}

impl<'a> OrgPage<'a> {
    /// The page's prologue; `Err` is the answer instead (the login page, not found).
    pub async fn open(
        ui: &'a UiState,
        headers: &axum::http::HeaderMap,
        org: &str,
    ) -> Result<Self, Response> {
        let Some(mut session) = Session::from_headers(ui, headers) else {
            return Err(redirect("/login", Vec::new()));
        };
        let (csrf, new_csrf) = session::csrf(ui, headers);
        let Ok(id) = org.parse::<uuid::Uuid>() else {
            return Err(refused(ui, &session, &csrf, &organizations::not_found()));
        };
        let info = session.get(&format!("/organizations/{id}")).await;
        if !info.is_success() {
            return Err(refused(ui, &session, &csrf, &info));
        }
        let Membership { role, others } = membership(&mut session, &id.to_string()).await;
        Ok(Self {
            session,
            csrf,
            new_csrf,
            id,
            info: info.body,
            role,
            others,
        })
    }

    /// The rendered page, with the renewed session's cookies and the CSRF cookie.
    pub fn respond(&self, status: StatusCode, template: &impl Template) -> Response {
        let mut cookies = self.session.set_cookies.clone();
        cookies.extend(self.new_csrf.clone());
        page(status, template, cookies)
    }
}

/// The user's role in the organization and their other organizations (one API call).
pub(crate) async fn membership(session: &mut Session<'_>, organization_id: &str) -> Membership {
    let listed = session.get("/organizations").await;
    let (mine, others) = organizations::organization_items(&listed.body)
        .into_iter()
        .partition::<Vec<_>, _>(|o| o.id == organization_id);
    Membership {
        role: mine.into_iter().next().map(|o| o.role).unwrap_or_default(),
        others,
    }
}

/// An API time (RFC 3339) as people read it, `2026-12-04 21:50:03 UTC`; anything else as is.
pub(crate) fn readable_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// Whether a role may change things.
pub(crate) fn can_edit(role: &str) -> bool {
    role == "editor" || role == "master"
}

/// A form that did not come from our pages: refused, nothing changed.
pub(crate) fn forged(csrf: &str, signed_in: bool) -> Response {
    let template = ErrorPage {
        signed_in,
        csrf,
        title: "This form has expired",
        message: "Go back, reload the page and send it again.",
    };
    page(StatusCode::FORBIDDEN, &template, Vec::new())
}
