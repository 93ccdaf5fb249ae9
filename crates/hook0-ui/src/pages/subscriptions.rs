//! An application's subscriptions: the list, a form to create one, and each one's page (its
//! settings, its secret for those who may edit it, enable or disable, delete).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::event_types::catalog;
use crate::pages::organizations::not_found;
use crate::pages::{readable_time, refused, signed_in_form};
use crate::session::Session;
use crate::{redirect, UiState};

/// Methods a subscription may use (upstream's set).
const METHODS: [&str; 7] = ["POST", "PUT", "PATCH", "GET", "DELETE", "OPTIONS", "HEAD"];

/// A subscription as the pages show it.
pub(crate) struct SubscriptionView {
    pub id: String,
    pub method: String,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
    pub enabled: bool,
    pub secret: String,
    pub circuit: String,
    pub standard_webhooks: bool,
    /// Live Standard Webhooks secrets, newest first, with when they stop signing.
    pub signing_secrets: Vec<(String, String)>,
    /// The ordering label, and whether a dead letter holds its key.
    pub ordering: Option<(String, bool)>,
}

/// A key of an ordered subscription that is in play, as its page shows it.
pub(crate) struct KeyView {
    pub key: String,
    /// When held: since when (readable), and the dead letter it waits on.
    pub held: Option<(String, String)>,
    /// The attempt being delivered, when one is.
    pub head: String,
    pub waiting: u64,
}

impl KeyView {
    fn from_json(k: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Self {
            key: text(&k["key"]),
            held: k["held_by_attempt_id"]
                .as_str()
                .map(|attempt| (readable_time(&text(&k["held_since"])), attempt.to_owned())),
            head: text(&k["head_attempt_id"]),
            waiting: k["waiting"].as_u64().unwrap_or_default(),
        }
    }
}

fn pairs(map: &Value) -> Vec<(String, String)> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

impl SubscriptionView {
    pub(crate) fn from_json(s: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let circuit = &s["circuit"];
        Self {
            id: text(&s["subscription_id"]),
            method: text(&s["target"]["method"]),
            url: text(&s["target"]["url"]),
            description: text(&s["description"]),
            event_types: s["event_types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            labels: pairs(&s["labels"]),
            headers: pairs(&s["target"]["headers"]),
            metadata: pairs(&s["metadata"]),
            enabled: s["is_enabled"].as_bool().unwrap_or(false),
            secret: text(&s["secret"]),
            standard_webhooks: s["standard_webhooks"].as_bool().unwrap_or(false),
            signing_secrets: s["standard_webhooks_secrets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| (text(&k["secret"]), readable_time(&text(&k["expires_at"]))))
                .collect(),
            ordering: s["ordering_label"]
                .as_str()
                .map(|label| (label.to_owned(), s["ordering_on_dead_letter"] != "continue")),
            circuit: match circuit["state"].as_str().unwrap_or("closed") {
                "closed" => "closed: deliveries flow".to_owned(),
                state => match circuit["retry_at"].as_str() {
                    Some(at) => format!("{state}: next try at {at}"),
                    None => state.to_owned(),
                },
            },
        }
    }
}

/// What the creation form holds, to show it again when the API refuses it.
#[derive(Default, Deserialize)]
pub struct SubscriptionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub labels: String,
    #[serde(default)]
    pub headers: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub metadata: String,
    /// Empty: deliveries unordered.
    #[serde(default)]
    pub ordering_label: String,
    /// `hold` or `continue`.
    #[serde(default)]
    pub ordering_on_dead_letter: String,
}

impl SubscriptionForm {
    /// Reads a posted form (checkboxes repeat `event_types`).
    fn read(body: &str) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "csrf" => form.csrf = value,
                "url" => form.url = value,
                "method" => form.method = value,
                "event_types" => form.event_types.push(value),
                "labels" => form.labels = value,
                "headers" => form.headers = value,
                "description" => form.description = value,
                "metadata" => form.metadata = value,
                "ordering_label" => form.ordering_label = value,
                "ordering_on_dead_letter" => form.ordering_on_dead_letter = value,
                _ => {}
            }
        }
        form
    }

    /// The ordering fields of the API body: none (`null`) for an empty label.
    fn add_ordering(&self, body: &mut Value) {
        let label = self.ordering_label.trim();
        body["ordering_label"] = if label.is_empty() {
            Value::Null
        } else {
            json!(label)
        };
        if !self.ordering_on_dead_letter.is_empty() {
            body["ordering_on_dead_letter"] = json!(self.ordering_on_dead_letter);
        }
    }
}

#[derive(Template)]
#[template(path = "subscriptions.html")]
struct ListPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    subscriptions: Vec<SubscriptionView>,
    catalog: Vec<String>,
    methods: &'static [&'static str],
    form: SubscriptionForm,
    problem: Option<Problem>,
}

#[derive(Template)]
#[template(path = "subscription.html")]
struct DetailPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    sub: SubscriptionView,
    keys: Vec<KeyView>,
    dead_letters: usize,
    dead_letters_more: bool,
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

#[derive(Template)]
#[template(path = "redeliver.html")]
struct RedeliverPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    sub_id: String,
    url: String,
    count: usize,
    more: bool,
}

/// How many dead letters the subscription has on the first page of the API, and whether there
/// are more.
async fn dead_letters(session: &mut Session<'_>, app: &AppCtx, id: uuid::Uuid) -> (usize, bool) {
    let listed = session
        .get(&format!(
            "/dead_letters?application_id={}&subscription_id={id}",
            app.id
        ))
        .await;
    (
        listed.body.as_array().map_or(0, Vec::len),
        listed.next_cursor.is_some(),
    )
}

/// `key=value` lines (or `Name: value` ones, with `separator` `:`) as a JSON object.
pub(crate) fn lines_to_map(text: &str, separator: char) -> Map<String, Value> {
    text.lines()
        .filter_map(|line| line.split_once(separator))
        .map(|(k, v)| (k.trim().to_owned(), Value::String(v.trim().to_owned())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

async fn render_list(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    form: SubscriptionForm,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let listed = ctx
        .session
        .get(&format!("/subscriptions?application_id={}", ctx.app.id))
        .await;
    if !listed.is_success() {
        return refused(ui, &ctx.session, &ctx.csrf, &listed);
    }
    let catalog = catalog(&mut ctx.session, &ctx.app).await;
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = ListPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "subscriptions",
        subscriptions: listed
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(SubscriptionView::from_json)
            .collect(),
        catalog,
        methods: &METHODS,
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
    let form = SubscriptionForm {
        method: "POST".into(),
        ..SubscriptionForm::default()
    };
    render_list(&ui, &headers, &org, &app, form, None).await
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    body: String,
) -> Response {
    let form = SubscriptionForm::read(&body);
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut body = json!({
        "application_id": app,
        "is_enabled": true,
        "event_types": form.event_types,
        "labels": lines_to_map(&form.labels, '='),
        "metadata": lines_to_map(&form.metadata, '='),
        "target": { "type": "http", "method": form.method, "url": form.url,
                    "headers": lines_to_map(&form.headers, ':') },
    });
    if !form.description.trim().is_empty() {
        body["description"] = json!(form.description.trim());
    }
    form.add_ordering(&mut body);
    let created = session
        .call(Method::POST, "/subscriptions", Some(&body))
        .await;
    if created.is_success() {
        let id = created.body["subscription_id"].as_str().unwrap_or_default();
        let to = format!("/organizations/{org}/applications/{app}/subscriptions/{id}");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&created) || created.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &created);
    }
    render_list(&ui, &headers, &org, &app, form, Some(created.problem())).await
}

/// The subscription `id` of the application, for its pages.
async fn subscription_of(
    ui: &UiState,
    session: &mut Session<'_>,
    csrf: &str,
    app: &AppCtx,
    id: &str,
) -> Result<(uuid::Uuid, Value), Response> {
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return Err(refused(ui, session, csrf, &not_found()));
    };
    let found = session.get(&format!("/subscriptions/{id}")).await;
    if !found.is_success() {
        return Err(refused(ui, session, csrf, &found));
    }
    if found.body["application_id"].as_str() != Some(app.id.to_string().as_str()) {
        return Err(refused(ui, session, csrf, &not_found()));
    }
    Ok((id, found.body))
}

pub async fn detail(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
) -> Response {
    render_detail(&ui, &headers, &org, &app, &id, None).await
}

async fn render_detail(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    id: &str,
    notice: Option<&str>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let (id, found) = match subscription_of(ui, &mut ctx.session, &ctx.csrf, &ctx.app, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (dead_letters, dead_letters_more) = dead_letters(&mut ctx.session, &ctx.app, id).await;
    let sub = SubscriptionView::from_json(&found);
    let keys = if sub.ordering.is_some() {
        let listed = ctx
            .session
            .get(&format!(
                "/subscriptions/{id}/ordering_keys?application_id={}",
                ctx.app.id
            ))
            .await;
        listed
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(KeyView::from_json)
            .collect()
    } else {
        Vec::new()
    };
    let template = DetailPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "subscriptions",
        sub,
        keys,
        dead_letters,
        dead_letters_more,
        notice,
        problem: None,
    };
    ctx.respond(StatusCode::OK, &template)
}

#[derive(Deserialize)]
pub struct StateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

/// Enables or disables: the API's full replacement, with everything else as it is.
pub async fn set_state(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    axum::Form(form): axum::Form<StateForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let found = session.get(&format!("/subscriptions/{id}")).await;
    if !found.is_success() {
        return refused(&ui, &session, &csrf, &found);
    }
    let s = &found.body;
    let mut body = json!({
        "application_id": s["application_id"],
        "is_enabled": form.enabled == "true",
        "event_types": s["event_types"],
        "labels": s["labels"],
        "metadata": s["metadata"],
        "target": s["target"],
    });
    if !s["description"].is_null() {
        body["description"] = s["description"].clone();
    }
    let updated = session
        .call(Method::PUT, &format!("/subscriptions/{id}"), Some(&body))
        .await;
    if !updated.is_success() {
        return refused(&ui, &session, &csrf, &updated);
    }
    let to = format!("/organizations/{org}/applications/{app}/subscriptions/{id}");
    redirect(&to, session.set_cookies)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

pub async fn delete(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(id), Ok(app_id)) = (id.parse::<uuid::Uuid>(), app.parse::<uuid::Uuid>()) else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let deleted = session
        .call(
            Method::DELETE,
            &format!("/subscriptions/{id}?application_id={app_id}"),
            None,
        )
        .await;
    if !deleted.is_success() {
        return refused(&ui, &session, &csrf, &deleted);
    }
    let to = format!("/organizations/{org}/applications/{app}/subscriptions");
    redirect(&to, session.set_cookies)
}

/// The confirmation before a bulk redelivery: how many, to where.
pub async fn redeliver_page(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
) -> Response {
    let mut ctx = match AppPage::open(&ui, &headers, &org, &app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let (id, found) = match subscription_of(&ui, &mut ctx.session, &ctx.csrf, &ctx.app, &id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (count, more) = dead_letters(&mut ctx.session, &ctx.app, id).await;
    let template = RedeliverPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "subscriptions",
        sub_id: id.to_string(),
        url: found["target"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        count,
        more,
    };
    ctx.respond(StatusCode::OK, &template)
}

pub async fn redeliver(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(sub_id), Ok(app_id)) = (id.parse::<uuid::Uuid>(), app.parse::<uuid::Uuid>()) else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let done = session
        .call(
            Method::POST,
            &format!("/subscriptions/{sub_id}/dead_letters/redeliver"),
            Some(&json!({ "application_id": app_id })),
        )
        .await;
    if !done.is_success() {
        return refused(&ui, &session, &csrf, &done);
    }
    let count = done.body["count"].as_i64().unwrap_or(0);
    let notice = format!("{count} attempt(s) queued for redelivery.");
    render_detail(&ui, &headers, &org, &app, &id, Some(&notice)).await
}

#[derive(Template)]
#[template(path = "subscription_edit.html")]
struct EditPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    sub_id: String,
    catalog: Vec<String>,
    methods: &'static [&'static str],
    form: SubscriptionForm,
    problem: Option<Problem>,
}

/// `key=value` (or `Name: value`) lines of a JSON object.
fn map_to_lines(map: &Value, separator: &str) -> String {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}{separator}{}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn render_edit(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    id: &str,
    form: Option<SubscriptionForm>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let (id, found) = match subscription_of(ui, &mut ctx.session, &ctx.csrf, &ctx.app, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let form = form.unwrap_or_else(|| SubscriptionForm {
        csrf: String::new(),
        url: found["target"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        method: found["target"]["method"]
            .as_str()
            .unwrap_or("POST")
            .to_owned(),
        event_types: found["event_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        labels: map_to_lines(&found["labels"], "="),
        headers: map_to_lines(&found["target"]["headers"], ": "),
        description: found["description"].as_str().unwrap_or_default().to_owned(),
        metadata: map_to_lines(&found["metadata"], "="),
        ordering_label: found["ordering_label"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        ordering_on_dead_letter: found["ordering_on_dead_letter"]
            .as_str()
            .unwrap_or("hold")
            .to_owned(),
    });
    let catalog = catalog(&mut ctx.session, &ctx.app).await;
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = EditPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "subscriptions",
        sub_id: id.to_string(),
        catalog,
        methods: &METHODS,
        form,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn edit_page(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
) -> Response {
    render_edit(&ui, &headers, &org, &app, &id, None, None).await
}

/// Saves an edit: the API's full replacement, keeping the state, metadata and signing.
pub async fn edit(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    body: String,
) -> Response {
    let form = SubscriptionForm::read(&body);
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(sub_id) = id.parse::<uuid::Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let found = session.get(&format!("/subscriptions/{sub_id}")).await;
    if !found.is_success() {
        return refused(&ui, &session, &csrf, &found);
    }
    let mut put = json!({
        "application_id": found.body["application_id"],
        "is_enabled": found.body["is_enabled"],
        "metadata": lines_to_map(&form.metadata, '='),
        "event_types": form.event_types,
        "labels": lines_to_map(&form.labels, '='),
        "target": { "type": "http", "method": form.method, "url": form.url,
                    "headers": lines_to_map(&form.headers, ':') },
    });
    if !form.description.trim().is_empty() {
        put["description"] = json!(form.description.trim());
    }
    form.add_ordering(&mut put);
    let updated = session
        .call(Method::PUT, &format!("/subscriptions/{sub_id}"), Some(&put))
        .await;
    if updated.is_success() {
        let to = format!("/organizations/{org}/applications/{app}/subscriptions/{sub_id}");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&updated) || updated.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &updated);
    }
    render_edit(
        &ui,
        &headers,
        &org,
        &app,
        &id,
        Some(form),
        Some(updated.problem()),
    )
    .await
}

#[derive(Deserialize)]
pub struct SigningForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    standard_webhooks: String,
}

/// Turns Standard Webhooks signing on or off (a full replacement with the choice added).
pub async fn signing(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    axum::Form(form): axum::Form<SigningForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(sub_id) = id.parse::<uuid::Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let found = session.get(&format!("/subscriptions/{sub_id}")).await;
    if !found.is_success() {
        return refused(&ui, &session, &csrf, &found);
    }
    let s = &found.body;
    let mut put = json!({
        "application_id": s["application_id"], "is_enabled": s["is_enabled"],
        "event_types": s["event_types"], "labels": s["labels"], "metadata": s["metadata"],
        "target": s["target"], "standard_webhooks": form.standard_webhooks == "true",
    });
    if !s["description"].is_null() {
        put["description"] = s["description"].clone();
    }
    let updated = session
        .call(Method::PUT, &format!("/subscriptions/{sub_id}"), Some(&put))
        .await;
    if !updated.is_success() {
        return refused(&ui, &session, &csrf, &updated);
    }
    let to = format!("/organizations/{org}/applications/{app}/subscriptions/{sub_id}");
    redirect(&to, session.set_cookies)
}

/// Rotates the Standard Webhooks secret; the previous one signs beside it for a day.
pub async fn rotate(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(sub_id), Ok(app_id)) = (id.parse::<uuid::Uuid>(), app.parse::<uuid::Uuid>()) else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let rotated = session
        .call(
            Method::POST,
            &format!("/subscriptions/{sub_id}/secrets/rotate"),
            Some(&json!({ "application_id": app_id, "overlap_secs": 86_400 })),
        )
        .await;
    if !rotated.is_success() {
        return refused(&ui, &session, &csrf, &rotated);
    }
    render_detail(
        &ui,
        &headers,
        &org,
        &app,
        &id,
        Some("A new secret signs from now on; the previous one signs beside it for a day."),
    )
    .await
}
