//! One module per area of the dashboard. Handlers read the browser's session, call the API,
//! and render a template; a refused call shows the API's problem in the page.

pub mod account;
pub mod api_keys;
pub mod applications;
pub mod attempts;
pub mod event_types;
pub mod events;
pub mod logs;
pub mod members;
pub mod organizations;
pub mod recovery;
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
    ui: &UiState,
    session: &Session<'_>,
    csrf: &str,
    answer: &Answer,
) -> Response {
    if session.token_refused(answer) {
        return redirect("/login", session::clear_session(ui));
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
