//! An application's consumer portal links: the live sessions (scope, capabilities, expiry),
//! a form to mint one for a customer (its URL shown once, to copy or open), and revocation.
//! Minting and listing are editors' actions, as in the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::subscriptions::lines_to_map;
use crate::pages::{readable_time, refused, signed_in_form};
use crate::{redirect, UiState};

/// What a session may be granted, with its label.
const CAPABILITIES: [(&str, &str); 6] = [
    ("view", "See endpoints and deliveries"),
    ("manage_subscriptions", "Add, edit and delete endpoints"),
    ("view_secret", "Reveal signing secrets"),
    ("rotate_secret", "Rotate signing secrets"),
    ("retry", "Resend deliveries"),
    ("send_test", "Send test events"),
];

/// Lifetimes offered: seconds and label.
const LIFETIMES: [(&str, &str); 4] = [
    ("300", "5 minutes"),
    ("3600", "1 hour"),
    ("86400", "1 day"),
    ("604800", "7 days"),
];

struct SessionView {
    id: String,
    labels: String,
    capabilities: String,
    origins: String,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "portal_links.html")]
struct LinksPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    sessions: Vec<SessionView>,
    /// The URL of the session just minted: shown this once.
    created: Option<String>,
    capabilities: &'static [(&'static str, &'static str)],
    lifetimes: &'static [(&'static str, &'static str)],
    form: LinkForm,
    problem: Option<Problem>,
}

fn session_view(s: &Value) -> SessionView {
    let joined = |v: &Value| {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    SessionView {
        id: s["portal_session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        labels: s["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        capabilities: joined(&s["capabilities"]),
        origins: joined(&s["allowed_origins"]),
        expires_at: readable_time(s["expires_at"].as_str().unwrap_or_default()),
    }
}

/// The mint form as typed (kept when the API refuses it). Checkboxes repeat `capabilities`.
#[derive(Default)]
pub struct LinkForm {
    csrf: String,
    labels: String,
    capabilities: Vec<String>,
    expires_in: String,
    origins: String,
    accent: String,
    mode: String,
}

impl LinkForm {
    /// An empty form: a customer who may look, for an hour.
    fn fresh() -> Self {
        Self {
            capabilities: vec!["view".into()],
            labels: "tenant=".into(),
            expires_in: "3600".into(),
            ..Self::default()
        }
    }

    /// Whether the form asks for this capability (its checkbox is ticked).
    fn grants(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    fn parse(body: &str) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "csrf" => form.csrf = value,
                "labels" => form.labels = value,
                "capabilities" => form.capabilities.push(value),
                "expires_in" => form.expires_in = value,
                "origins" => form.origins = value,
                "accent" => form.accent = value,
                "mode" => form.mode = value,
                _ => {}
            }
        }
        form
    }

    fn body(&self, application_id: &str) -> Value {
        let origins: Vec<&str> = self
            .origins
            .lines()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect();
        let mut theme = json!({ "mode": if self.mode.is_empty() { "auto" } else { &self.mode } });
        if !self.accent.trim().is_empty() {
            theme["accent"] = json!(self.accent.trim());
        }
        json!({
            "application_id": application_id,
            "labels": lines_to_map(&self.labels, '='),
            "capabilities": self.capabilities,
            "expires_in": self.expires_in.parse::<u64>().unwrap_or(3600),
            "allowed_origins": origins,
            "theme": theme,
        })
    }
}

async fn render(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    created: Option<String>,
    form: LinkForm,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let sessions = if ctx.app.can_edit {
        let listed = ctx
            .session
            .get(&format!("/portal_sessions?application_id={}", ctx.app.id))
            .await;
        if ctx.session.token_refused(&listed) {
            return refused(ui, &ctx.session, &ctx.csrf, &listed);
        }
        listed
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(session_view)
            .collect()
    } else {
        Vec::new()
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = LinksPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "portal_sessions",
        sessions,
        created,
        capabilities: &CAPABILITIES,
        lifetimes: &LIFETIMES,
        form,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    render(&ui, &headers, &org, &app, None, LinkForm::fresh(), None).await
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    body: String,
) -> Response {
    let form = LinkForm::parse(&body);
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let created = session
        .call(Method::POST, "/portal_sessions", Some(&form.body(&app)))
        .await;
    if created.is_success() {
        let url = created.body["url"].as_str().map(str::to_owned);
        return render(&ui, &headers, &org, &app, url, LinkForm::fresh(), None).await;
    }
    if session.token_refused(&created) || created.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &created);
    }
    render(
        &ui,
        &headers,
        &org,
        &app,
        None,
        form,
        Some(created.problem()),
    )
    .await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

pub async fn revoke(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(id) = form.id.parse::<uuid::Uuid>() else {
        return refused(
            &ui,
            &session,
            &csrf,
            &crate::pages::organizations::not_found(),
        );
    };
    let revoked = session
        .call(Method::DELETE, &format!("/portal_sessions/{id}"), None)
        .await;
    if revoked.is_success() {
        let to = format!("/organizations/{org}/applications/{app}/portal_sessions");
        return redirect(&to, session.set_cookies);
    }
    refused(&ui, &session, &csrf, &revoked)
}
