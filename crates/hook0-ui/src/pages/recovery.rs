//! The pages behind the links our mails send (upstream's paths): `/verify-email?token=` signs
//! the user in once the address is verified; `/begin-reset-password` asks for a link;
//! `/reset-password?token=` sets a new password (the link works once). And `/settings`, where a
//! signed-in user changes their password.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::client::Problem;
use crate::pages::{forged, refused, signed_in_form};
use crate::session::{self, Session};
use crate::{page, redirect, UiState};

#[derive(Template)]
#[template(path = "reset.html")]
struct RecoveryPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    heading: &'static str,
    ask_email: bool,
    token: Option<String>,
    password_minimum_length: usize,
    notice: Option<&'static str>,
    problem: Option<Problem>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    password_minimum_length: usize,
    notice: Option<&'static str>,
    problem: Option<Problem>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn recovery<'a>(ui: &UiState, csrf: &'a str, heading: &'static str) -> RecoveryPage<'a> {
    RecoveryPage {
        signed_in: false,
        csrf,
        heading,
        ask_email: false,
        token: None,
        password_minimum_length: ui.password_minimum_length,
        notice: None,
        problem: None,
    }
}

/// `GET /verify-email?token=`: the mailed link. Verifies and signs in, or says why not.
pub async fn verify_email(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    let answer = ui
        .api
        .call(
            Method::POST,
            "/auth/verify-email",
            None,
            Some(&json!({ "token": q.token })),
        )
        .await;
    if answer.is_success() {
        return redirect(
            "/organizations",
            session::session_cookies(&ui, &answer.body),
        );
    }
    let mut template = recovery(&ui, &csrf, "Email verification");
    template.problem = Some(answer.problem());
    let status = if answer.status.is_server_error() {
        answer.status
    } else {
        StatusCode::BAD_REQUEST
    };
    page(status, &template, set.into_iter().collect())
}

pub async fn begin_reset_page(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    let mut template = recovery(&ui, &csrf, "Reset your password");
    template.ask_email = true;
    page(StatusCode::OK, &template, set.into_iter().collect())
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn begin_reset(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<EmailForm>,
) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    if !session::form_is_ours(&ui, &headers, &form.csrf) {
        return forged(&csrf, false);
    }
    // The same answer whether the account exists or not: the page tells nothing about it.
    let _ = ui
        .api
        .call(
            Method::POST,
            "/auth/begin-reset-password",
            None,
            Some(&json!({ "email": form.email })),
        )
        .await;
    let mut template = recovery(&ui, &csrf, "Reset your password");
    template.notice = Some(
        "If an account has this address, a link to set a new password is on its way. It works once, for 30 minutes.",
    );
    page(StatusCode::OK, &template, set.into_iter().collect())
}

/// `GET /reset-password?token=`: the mailed link; asks for the new password.
pub async fn reset_page(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    let mut template = recovery(&ui, &csrf, "Choose a new password");
    template.token = Some(q.token);
    page(StatusCode::OK, &template, set.into_iter().collect())
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

pub async fn reset(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    if !session::form_is_ours(&ui, &headers, &form.csrf) {
        return forged(&csrf, false);
    }
    let answer = ui
        .api
        .call(
            Method::POST,
            "/auth/reset-password",
            None,
            Some(&json!({ "token": form.token, "new_password": form.new_password })),
        )
        .await;
    let mut template = recovery(&ui, &csrf, "Choose a new password");
    if answer.is_success() {
        template.notice =
            Some("Your password is changed, and every session ended. Log in with the new one.");
        return page(StatusCode::OK, &template, set.into_iter().collect());
    }
    template.problem = Some(answer.problem());
    // A weak password can be tried again with the same link; an expired link cannot.
    if answer.problem_id().starts_with("Password") {
        template.token = Some(form.token);
    }
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &template,
        set.into_iter().collect(),
    )
}

pub async fn settings(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    if Session::from_headers(&ui, &headers).is_none() {
        return redirect("/login", Vec::new());
    }
    let (csrf, set) = session::csrf(&ui, &headers);
    let template = SettingsPage {
        signed_in: true,
        csrf: &csrf,
        password_minimum_length: ui.password_minimum_length,
        notice: None,
        problem: None,
    };
    page(StatusCode::OK, &template, set.into_iter().collect())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change_password(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let answer = session
        .call(
            Method::POST,
            "/auth/password",
            Some(&json!({ "current_password": form.current_password, "new_password": form.new_password })),
        )
        .await;
    if session.token_refused(&answer) {
        return refused(&ui, &session, &csrf, &answer);
    }
    let (notice, problem, status) = if answer.is_success() {
        (
            Some("Your password is changed; your other sessions ended."),
            None,
            StatusCode::OK,
        )
    } else {
        (
            None,
            Some(answer.problem()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let template = SettingsPage {
        signed_in: true,
        csrf: &csrf,
        password_minimum_length: ui.password_minimum_length,
        notice,
        problem,
    };
    page(status, &template, session.set_cookies.clone())
}
