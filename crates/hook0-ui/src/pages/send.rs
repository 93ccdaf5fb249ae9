//! Send a test event from the page: type, labels and a JSON payload, checked by the API like
//! any ingest; the equivalent curl is shown beside the form.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::event_types::catalog;
use crate::pages::signed_in_form;
use crate::pages::subscriptions::lines_to_map;
use crate::UiState;

pub(crate) struct Sent {
    pub event_id: String,
    pub attempts: usize,
}

#[derive(Default, Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub labels: String,
    #[serde(default)]
    pub payload: String,
}

#[derive(Template)]
#[template(path = "send.html")]
struct SendPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    catalog: Vec<String>,
    form: SendForm,
    curl: String,
    sent: Option<Sent>,
    problem: Option<Problem>,
}

fn curl(app: &AppCtx, form: &SendForm, base: &str) -> String {
    let body = json!({
        "application_id": app.id,
        "event_type": form.event_type,
        "labels": lines_to_map(&form.labels, '='),
        "payload": form.payload,
        "payload_content_type": "application/json",
        "occurred_at": "2026-01-01T00:00:00Z",
    });
    let quoted = body.to_string().replace('\'', "'\\''");
    format!(
        "curl -X POST {base}/api/v1/event \\\n  -H \"Authorization: Bearer $HOOK0_TOKEN\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{quoted}'"
    )
}

async fn render(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    form: Option<SendForm>,
    sent: Option<Sent>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let catalog = catalog(&mut ctx.session, &ctx.app).await;
    let form = form.unwrap_or_else(|| SendForm {
        event_type: catalog.first().cloned().unwrap_or_default(),
        labels: "tenant=test".into(),
        payload: "{\n  \"hello\": \"world\"\n}".into(),
        ..SendForm::default()
    });
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = SendPage {
        signed_in: true,
        csrf: &ctx.csrf,
        curl: curl(&ctx.app, &form, &ui.origin),
        app: &ctx.app,
        tab: "send",
        catalog,
        form,
        sent,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn form(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    render(&ui, &headers, &org, &app, None, None, None).await
}

pub async fn send(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<SendForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // The payload is checked here first, so a typo is told before anything is sent.
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&form.payload) {
        let problem = Problem {
            id: "EventInvalidJsonPayload".into(),
            title: "The payload is not valid JSON".into(),
            detail: error.to_string(),
            fields: Vec::new(),
        };
        return render(&ui, &headers, &org, &app, Some(form), None, Some(problem)).await;
    }
    let body = json!({
        "application_id": app,
        "event_type": form.event_type,
        "labels": lines_to_map(&form.labels, '='),
        "payload": form.payload,
        "payload_content_type": "application/json",
        "occurred_at": hook0_core::model::now(),
    });
    let answer = session.call(Method::POST, "/event", Some(&body)).await;
    if !answer.is_success() {
        if session.token_refused(&answer) {
            return crate::pages::refused(&ui, &session, &csrf, &answer);
        }
        let problem = answer.problem();
        return render(&ui, &headers, &org, &app, Some(form), None, Some(problem)).await;
    }
    let event_id = answer.body["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let attempts = session
        .get(&format!(
            "/request_attempts?application_id={app}&event_id={event_id}"
        ))
        .await
        .body
        .as_array()
        .map_or(0, Vec::len);
    let sent = Sent { event_id, attempts };
    render(&ui, &headers, &org, &app, Some(form), Some(sent), None).await
}
