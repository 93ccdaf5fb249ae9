//! An application's event types: the list, a form to create one (`service.resource_type.verb`),
//! and deactivation.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::{refused, signed_in_form};
use crate::session::Session;
use crate::{redirect, UiState};

#[derive(Template)]
#[template(path = "event_types.html")]
struct EventTypesPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    event_types: Vec<TypeView>,
    problem: Option<Problem>,
}

/// An event type as its page shows it.
pub(crate) struct TypeView {
    pub name: String,
    /// Its JSON Schema, pretty-printed; empty when it has none.
    pub schema: String,
}

/// The application's active event types with their schemas.
pub(crate) fn type_views(listed: &serde_json::Value) -> Vec<TypeView> {
    listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| TypeView {
            name: t["event_type_name"].as_str().unwrap_or_default().to_owned(),
            schema: t
                .get("schema")
                .filter(|s| !s.is_null())
                .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
                .unwrap_or_default(),
        })
        .collect()
}

/// The names of the application's active event types.
pub(crate) async fn catalog(session: &mut Session<'_>, app: &AppCtx) -> Vec<String> {
    let listed = session
        .get(&format!("/event_types?application_id={}", app.id))
        .await;
    type_views(&listed.body)
        .into_iter()
        .map(|t| t.name)
        .collect()
}

async fn render(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let listed = ctx
        .session
        .get(&format!("/event_types?application_id={}", ctx.app.id))
        .await;
    let event_types = type_views(&listed.body);
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = EventTypesPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "event_types",
        event_types,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    render(&ui, &headers, &org, &app, None).await
}

#[derive(Deserialize)]
pub struct EventTypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    verb: String,
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<EventTypeForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let created = session
        .call(
            Method::POST,
            "/event_types",
            Some(&json!({ "application_id": app, "service": form.service,
                "resource_type": form.resource_type, "verb": form.verb })),
        )
        .await;
    if created.is_success() {
        let to = format!("/organizations/{org}/applications/{app}/event_types");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&created) || created.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &created);
    }
    render(&ui, &headers, &org, &app, Some(created.problem())).await
}

#[derive(Deserialize)]
pub struct DeactivateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn deactivate(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<DeactivateForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let name: String = form
        .name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        .map(char::from)
        .collect();
    let done = session
        .call(
            Method::DELETE,
            &format!("/event_types/{name}?application_id={app}"),
            None,
        )
        .await;
    if done.is_success() {
        let to = format!("/organizations/{org}/applications/{app}/event_types");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&done) || done.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &done);
    }
    render(&ui, &headers, &org, &app, Some(done.problem())).await
}

#[derive(Deserialize)]
pub struct SchemaForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// JSON text; empty removes the schema.
    #[serde(default)]
    schema: String,
}

/// Sets (or, empty, removes) an event type's schema.
pub async fn set_schema(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<SchemaForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let schema = if form.schema.trim().is_empty() {
        serde_json::Value::Null
    } else {
        match serde_json::from_str::<serde_json::Value>(&form.schema) {
            Ok(schema) => schema,
            Err(error) => {
                let problem = Problem {
                    title: "The schema is not JSON".into(),
                    detail: format!("{error}. Nothing was changed."),
                    ..Problem::default()
                };
                return render(&ui, &headers, &org, &app, Some(problem)).await;
            }
        }
    };
    let path = format!("/event_types/{}/schema", form.name);
    let saved = session
        .call(
            Method::PUT,
            &path,
            Some(&json!({ "application_id": app, "schema": schema })),
        )
        .await;
    if saved.is_success() {
        let to = format!("/organizations/{org}/applications/{app}/event_types");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&saved) || saved.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &saved);
    }
    render(&ui, &headers, &org, &app, Some(saved.problem())).await
}
