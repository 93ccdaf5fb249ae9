//! An application's API keys (upstream's application secrets): list, create (the new key is
//! shown at once), delete. Reading keys is an editor's action, like in the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::organizations::NameForm;
use crate::pages::{readable_time, refused, signed_in_form};
use crate::{redirect, UiState};

pub(crate) struct KeyView {
    pub name: String,
    pub token: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    keys: Vec<KeyView>,
    created: Option<KeyView>,
    problem: Option<Problem>,
}

fn key(k: &serde_json::Value) -> KeyView {
    KeyView {
        name: k["name"].as_str().unwrap_or("(unnamed)").to_owned(),
        token: k["token"].as_str().unwrap_or_default().to_owned(),
        created_at: readable_time(k["created_at"].as_str().unwrap_or_default()),
    }
}

async fn render(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    created: Option<KeyView>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let keys = if ctx.app.can_edit {
        let listed = ctx
            .session
            .get(&format!(
                "/application_secrets?application_id={}",
                ctx.app.id
            ))
            .await;
        if ctx.session.token_refused(&listed) {
            return refused(ui, &ctx.session, &ctx.csrf, &listed);
        }
        listed
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["deleted_at"].is_null())
            .map(key)
            .collect()
    } else {
        Vec::new()
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = KeysPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "application_secrets",
        keys,
        created,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    render(&ui, &headers, &org, &app, None, None).await
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<NameForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let created = session
        .call(
            Method::POST,
            "/application_secrets",
            Some(&json!({ "application_id": app, "name": form.name })),
        )
        .await;
    if created.is_success() {
        return render(&ui, &headers, &org, &app, Some(key(&created.body)), None).await;
    }
    if session.token_refused(&created) || created.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &created);
    }
    render(&ui, &headers, &org, &app, None, Some(created.problem())).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

pub async fn delete(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<TokenForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(token), Ok(app_id)) = (form.token.parse::<uuid::Uuid>(), app.parse::<uuid::Uuid>())
    else {
        return refused(
            &ui,
            &session,
            &csrf,
            &crate::pages::organizations::not_found(),
        );
    };
    let deleted = session
        .call(
            Method::DELETE,
            &format!("/application_secrets/{token}?application_id={app_id}"),
            None,
        )
        .await;
    if !deleted.is_success() {
        return refused(&ui, &session, &csrf, &deleted);
    }
    let to = format!("/organizations/{org}/applications/{app}/application_secrets");
    redirect(&to, session.set_cookies)
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
}

pub async fn rename(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<RenameForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(token) = form.token.parse::<uuid::Uuid>() else {
        return refused(
            &ui,
            &session,
            &csrf,
            &crate::pages::organizations::not_found(),
        );
    };
    let renamed = session
        .call(
            Method::PUT,
            &format!("/application_secrets/{token}"),
            Some(&json!({ "application_id": app, "name": form.name })),
        )
        .await;
    if renamed.is_success() {
        let to = format!("/organizations/{org}/applications/{app}/application_secrets");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&renamed) || renamed.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &renamed);
    }
    render(&ui, &headers, &org, &app, None, Some(renamed.problem())).await
}
