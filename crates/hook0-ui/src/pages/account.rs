//! Account pages: log in, create an account, log out (upstream's `/login` and `/register`).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::client::Problem;
use crate::pages::forged;
use crate::session::{self, Session};
use crate::{page, redirect, UiState};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    problem: Option<Problem>,
    registration_open: bool,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
    password_minimum_length: usize,
    problem: Option<Problem>,
}

/// `/`: the organizations when signed in, else the login page.
pub async fn home(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    match Session::from_headers(&ui, &headers) {
        Some(_) => redirect("/organizations", Vec::new()),
        None => redirect("/login", Vec::new()),
    }
}

pub async fn login_page(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    // Already signed in (another tab may just have renewed the session): no need to log in.
    if let Some(mut session) = Session::from_headers(&ui, &headers) {
        if session.get("/organizations").await.is_success() {
            return redirect("/organizations", session.set_cookies);
        }
    }
    let (csrf, set) = session::csrf(&ui, &headers);
    let template = LoginPage {
        signed_in: false,
        csrf: &csrf,
        email: "",
        notice: None,
        problem: None,
        registration_open: ui.registration_open,
    };
    page(StatusCode::OK, &template, set.into_iter().collect())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    if !session::form_is_ours(&ui, &headers, &form.csrf) {
        return forged(&csrf, false);
    }
    let answer = ui
        .api
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({ "email": form.email, "password": form.password })),
        )
        .await;
    if answer.is_success() {
        return redirect(
            "/organizations",
            session::session_cookies(&ui, &answer.body),
        );
    }
    let template = LoginPage {
        signed_in: false,
        csrf: &csrf,
        email: &form.email,
        notice: None,
        problem: Some(answer.problem()),
        registration_open: ui.registration_open,
    };
    let status = if answer.status.is_client_error() {
        StatusCode::UNAUTHORIZED
    } else {
        answer.status
    };
    page(status, &template, set.into_iter().collect())
}

pub async fn register_page(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    if !ui.registration_open {
        return redirect("/login", Vec::new());
    }
    let (csrf, set) = session::csrf(&ui, &headers);
    let template = RegisterPage {
        signed_in: false,
        csrf: &csrf,
        first_name: "",
        last_name: "",
        email: "",
        password_minimum_length: ui.password_minimum_length,
        problem: None,
    };
    page(StatusCode::OK, &template, set.into_iter().collect())
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn register(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    let (csrf, set) = session::csrf(&ui, &headers);
    if !session::form_is_ours(&ui, &headers, &form.csrf) {
        return forged(&csrf, false);
    }
    let registered = ui
        .api
        .call(
            Method::POST,
            "/register",
            None,
            Some(
                &json!({ "first_name": form.first_name, "last_name": form.last_name,
                "email": form.email, "password": form.password }),
            ),
        )
        .await;
    if !registered.is_success() {
        let template = RegisterPage {
            signed_in: false,
            csrf: &csrf,
            first_name: &form.first_name,
            last_name: &form.last_name,
            email: &form.email,
            password_minimum_length: ui.password_minimum_length,
            problem: Some(registered.problem()),
        };
        let status = if registered.status.is_client_error() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            registered.status
        };
        return page(status, &template, set.into_iter().collect());
    }
    // The first account of an instance without mail is verified at once: sign it in.
    let login = ui
        .api
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({ "email": form.email, "password": form.password })),
        )
        .await;
    if login.is_success() {
        return redirect("/organizations", session::session_cookies(&ui, &login.body));
    }
    let template = LoginPage {
        signed_in: false,
        csrf: &csrf,
        email: &form.email,
        notice: Some(
            "Your account is created. Confirm your email address with the link we sent \
             (or ask an administrator to verify it), then log in.",
        ),
        problem: None,
        registration_open: ui.registration_open,
    };
    page(StatusCode::OK, &template, set.into_iter().collect())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (csrf, _) = session::csrf(&ui, &headers);
    if !session::form_is_ours(&ui, &headers, &form.csrf) {
        return forged(&csrf, true);
    }
    if let Some(mut session) = Session::from_headers(&ui, &headers) {
        session.logout().await;
    }
    redirect("/login", session::clear_session(&ui))
}
