//! The customer's endpoints: the list (the portal's home), a form to add or edit one, and each
//! one's page with its secret, a test send, its deliveries and its dead letters.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{forged, problem_of, Portal};
use crate::client::Problem;
use crate::pages::attempts::{AttemptView, STATUSES};
use crate::pages::event_types::{type_views, TypeView};
use crate::pages::subscriptions::{lines_to_map, SubscriptionView};
use crate::UiState;

/// Methods an endpoint may be called with.
const METHODS: [&str; 3] = ["POST", "PUT", "PATCH"];

#[derive(Template)]
#[template(path = "portal/home.html")]
struct HomePage<'a> {
    p: &'a Portal,
    subscriptions: Vec<SubscriptionView>,
    problem: Option<Problem>,
}

pub async fn home(State(ui): State<UiState>, Path(secret): Path<String>) -> Response {
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let listed = p.call(&ui, Method::GET, "/subscriptions", None).await;
    let subscriptions = listed
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(SubscriptionView::from_json)
        .collect();
    let page = HomePage {
        p: &p,
        subscriptions,
        problem: problem_of(&listed),
    };
    p.respond(StatusCode::OK, &page)
}

/// The add/edit form as typed (kept when the API refuses it).
#[derive(Default)]
pub struct EndpointForm {
    url: String,
    method: String,
    description: String,
    event_types: Vec<String>,
    headers: String,
}

impl EndpointForm {
    /// Reads a posted form (checkboxes repeat `event_types`).
    fn parse(body: &str) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "url" => form.url = value,
                "method" => form.method = value,
                "description" => form.description = value,
                "event_types" => form.event_types.push(value),
                "headers" => form.headers = value,
                _ => {}
            }
        }
        form
    }

    fn from_view(s: &SubscriptionView) -> Self {
        Self {
            url: s.url.clone(),
            method: s.method.clone(),
            description: s.description.clone(),
            event_types: s.event_types.clone(),
            headers: s
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn body(&self, enabled: bool) -> Value {
        let mut body = json!({
            "is_enabled": enabled,
            "event_types": self.event_types,
            "target": { "type": "http", "method": self.method, "url": self.url.trim(),
                        "headers": lines_to_map(&self.headers, ':') },
        });
        if !self.description.trim().is_empty() {
            body["description"] = json!(self.description.trim());
        }
        body
    }
}

#[derive(Template)]
#[template(path = "portal/form.html")]
struct FormPage<'a> {
    p: &'a Portal,
    /// Empty when adding.
    id: String,
    form: EndpointForm,
    catalog: Vec<TypeView>,
    methods: [&'static str; 3],
    problem: Option<Problem>,
}

/// The application's event types, with the schema their payloads follow.
async fn catalog(ui: &UiState, p: &Portal) -> Vec<TypeView> {
    type_views(&p.call(ui, Method::GET, "/event_types", None).await.body)
}

async fn render_form(
    ui: &UiState,
    p: &Portal,
    id: String,
    form: EndpointForm,
    problem: Option<Problem>,
) -> Response {
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = FormPage {
        p,
        id,
        form,
        catalog: catalog(ui, p).await,
        methods: METHODS,
        problem,
    };
    p.respond(status, &page)
}

pub async fn new_form(State(ui): State<UiState>, Path(secret): Path<String>) -> Response {
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let form = EndpointForm {
        method: "POST".into(),
        ..Default::default()
    };
    render_form(&ui, &p, String::new(), form, None).await
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
    body: String,
) -> Response {
    if !super::posted_here(&ui, &headers) {
        return forged();
    }
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let form = EndpointForm::parse(&body);
    let created = p
        .call(&ui, Method::POST, "/subscriptions", Some(&form.body(true)))
        .await;
    if created.is_success() {
        let id = created.body["subscription_id"].as_str().unwrap_or_default();
        return p.redirect(&format!("/subscriptions/{id}"));
    }
    render_form(&ui, &p, String::new(), form, Some(created.problem())).await
}

/// The subscription `id` of the scope, or the not-found page.
async fn subscription_of(ui: &UiState, p: &Portal, id: &str) -> Result<SubscriptionView, Response> {
    let found = match id.parse::<uuid::Uuid>() {
        Ok(id) => {
            p.call(ui, Method::GET, &format!("/subscriptions/{id}"), None)
                .await
        }
        Err(_) => return Err(not_found(p)),
    };
    if !found.is_success() {
        return Err(not_found(p));
    }
    Ok(SubscriptionView::from_json(&found.body))
}

#[derive(Template)]
#[template(path = "portal/not_found.html")]
struct NotFoundPage<'a> {
    p: &'a Portal,
}

pub(crate) fn not_found(p: &Portal) -> Response {
    p.respond(StatusCode::NOT_FOUND, &NotFoundPage { p })
}

pub async fn edit_form(
    State(ui): State<UiState>,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let sub = match subscription_of(&ui, &p, &id).await {
        Ok(sub) => sub,
        Err(page) => return page,
    };
    let form = EndpointForm::from_view(&sub);
    render_form(&ui, &p, sub.id, form, None).await
}

pub async fn edit(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
    body: String,
) -> Response {
    if !super::posted_here(&ui, &headers) {
        return forged();
    }
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let sub = match subscription_of(&ui, &p, &id).await {
        Ok(sub) => sub,
        Err(page) => return page,
    };
    let form = EndpointForm::parse(&body);
    let saved = p
        .call(
            &ui,
            Method::PUT,
            &format!("/subscriptions/{}", sub.id),
            Some(&form.body(sub.enabled)),
        )
        .await;
    if saved.is_success() {
        return p.redirect(&format!("/subscriptions/{}", sub.id));
    }
    render_form(&ui, &p, sub.id, form, Some(saved.problem())).await
}

/// Filters of an endpoint's deliveries, from its page's query string.
#[derive(Deserialize, Default)]
pub struct DeliveryFilters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
    /// What was just done (see [`notice_of`]).
    #[serde(default)]
    done: String,
}

#[derive(Template)]
#[template(path = "portal/subscription.html")]
struct DetailPage<'a> {
    p: &'a Portal,
    sub: SubscriptionView,
    /// Shown after "Reveal" (or a rotation, with `view_secret`).
    secret: Option<String>,
    notice: Option<String>,
    problem: Option<Problem>,
    statuses: &'static [(&'static str, &'static str)],
    status: String,
    attempts: Vec<AttemptView>,
    next_page: Option<String>,
    dead_letters: usize,
}

/// What an action's answer adds to the endpoint's page.
#[derive(Default)]
struct Outcome {
    secret: Option<String>,
    notice: Option<String>,
    problem: Option<Problem>,
}

async fn render_detail(
    ui: &UiState,
    p: &Portal,
    id: &str,
    filters: DeliveryFilters,
    outcome: Outcome,
) -> Response {
    let sub = match subscription_of(ui, p, id).await {
        Ok(sub) => sub,
        Err(page) => return page,
    };
    let status = STATUSES
        .iter()
        .find(|(value, _)| *value == filters.status)
        .map_or(String::new(), |(value, _)| (*value).to_owned());
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !status.is_empty() {
            query.append_pair("status", &status);
        }
        if !filters.cursor.is_empty() {
            query.append_pair("pagination_cursor", &filters.cursor);
        }
        query.finish()
    };
    let listed = p
        .call(
            ui,
            Method::GET,
            &format!("/subscriptions/{}/request_attempts?{query}", sub.id),
            None,
        )
        .await;
    let next_page = listed.next_cursor.as_ref().map(|cursor| {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        if !status.is_empty() {
            next.append_pair("status", &status);
        }
        next.append_pair("cursor", cursor);
        format!("{}/subscriptions/{}?{}", p.base, sub.id, next.finish())
    });
    let letters = p
        .call(
            ui,
            Method::GET,
            &format!("/subscriptions/{}/dead_letters", sub.id),
            None,
        )
        .await;
    let page = DetailPage {
        p,
        secret: outcome.secret,
        notice: outcome
            .notice
            .or_else(|| notice_of(&filters.done).map(str::to_owned)),
        problem: outcome.problem.or_else(|| problem_of(&listed)),
        statuses: &STATUSES,
        status,
        attempts: AttemptView::list(&listed.body),
        next_page,
        dead_letters: letters.body.as_array().map_or(0, Vec::len),
        sub,
    };
    p.respond(StatusCode::OK, &page)
}

pub async fn detail(
    State(ui): State<UiState>,
    Path((secret, id)): Path<(String, String)>,
    Query(filters): Query<DeliveryFilters>,
) -> Response {
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    render_detail(&ui, &p, &id, filters, Outcome::default()).await
}

/// The prologue of a posted action on the endpoint `id`: the post is ours, the session live,
/// the endpoint in its scope.
async fn open_for_action(
    ui: &UiState,
    headers: &HeaderMap,
    secret: &str,
    id: &str,
) -> Result<(Portal, SubscriptionView), Response> {
    if !super::posted_here(ui, headers) {
        return Err(forged());
    }
    let p = Portal::open(ui, secret).await?;
    let sub = subscription_of(ui, &p, id).await?;
    Ok((p, sub))
}

/// The endpoint's page again, with what the action came to.
async fn after(ui: &UiState, p: &Portal, sub: &SubscriptionView, outcome: Outcome) -> Response {
    render_detail(ui, p, &sub.id, DeliveryFilters::default(), outcome).await
}

/// After an action that shows no secret: on success, the endpoint's page by a redirect (so a
/// reload does not post again, and its live deliveries refresh from a plain GET) saying what
/// was done; on a refusal, the page at once with the problem.
async fn finished(
    ui: &UiState,
    p: &Portal,
    sub: &SubscriptionView,
    answer: &crate::client::Answer,
    done: &str,
) -> Response {
    if answer.is_success() {
        return p.redirect(&format!("/subscriptions/{}?done={done}", sub.id));
    }
    after(ui, p, sub, self::done(answer, "")).await
}

/// The notice of a finished action, by its key (nothing typed reaches the page this way).
fn notice_of(done: &str) -> Option<&'static str> {
    Some(match done {
        "enabled" => "Endpoint enabled.",
        "disabled" => "Endpoint disabled: nothing is sent to it until you enable it again.",
        "test_sent" => "Test event sent: its delivery appears below.",
        "redelivered" => "The failed deliveries are queued again, once each.",
        _ => return None,
    })
}

fn done(answer: &crate::client::Answer, notice: &str) -> Outcome {
    match problem_of(answer) {
        Some(problem) => Outcome {
            problem: Some(problem),
            ..Outcome::default()
        },
        None => Outcome {
            notice: Some(notice.to_owned()),
            ..Outcome::default()
        },
    }
}

#[derive(Deserialize)]
pub struct StateForm {
    enabled: String,
}

pub async fn set_state(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<StateForm>,
) -> Response {
    let enable = form.enabled == "true";
    let (p, sub) = match open_for_action(&ui, &headers, &secret, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let body = EndpointForm::from_view(&sub).body(enable);
    let path = format!("/subscriptions/{}", sub.id);
    let saved = p.call(&ui, Method::PUT, &path, Some(&body)).await;
    let done = if enable { "enabled" } else { "disabled" };
    finished(&ui, &p, &sub, &saved, done).await
}

/// A posted action that is one portal API call on the endpoint (`/subscriptions/{id}{rest}`):
/// the endpoint, and the API's answer.
async fn call_on(
    ui: &UiState,
    headers: &HeaderMap,
    (secret, id): (&str, &str),
    method: Method,
    rest: &str,
    body: Option<&Value>,
) -> Result<(Portal, SubscriptionView, crate::client::Answer), Response> {
    let (p, sub) = open_for_action(ui, headers, secret, id).await?;
    let path = format!("/subscriptions/{}{rest}", sub.id);
    let answer = p.call(ui, method, &path, body).await;
    Ok((p, sub, answer))
}

pub async fn delete(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    match call_on(&ui, &headers, (&secret, &id), Method::DELETE, "", None).await {
        Ok((p, _, deleted)) if deleted.is_success() => p.redirect(""),
        Ok((p, sub, refused)) => after(&ui, &p, &sub, done(&refused, "")).await,
        Err(page) => page,
    }
}

/// The endpoint's page showing a secret the API just answered (revealed, or rotated).
async fn with_secret(
    ui: &UiState,
    p: &Portal,
    sub: &SubscriptionView,
    answer: &crate::client::Answer,
    notice: &str,
) -> Response {
    let mut outcome = done(answer, notice);
    outcome.secret = answer.body["secret"].as_str().map(str::to_owned);
    after(ui, p, sub, outcome).await
}

pub async fn reveal_secret(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    match call_on(&ui, &headers, (&secret, &id), Method::GET, "/secret", None).await {
        Ok((p, sub, revealed)) => with_secret(&ui, &p, &sub, &revealed, "").await,
        Err(page) => page,
    }
}

pub async fn rotate_secret(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    let body = json!({});
    match call_on(
        &ui,
        &headers,
        (&secret, &id),
        Method::POST,
        "/secret/rotate",
        Some(&body),
    )
    .await
    {
        Ok((p, sub, rotated)) => {
            let notice = "New secret in use: deliveries from now on are signed with it. Update your endpoint's verification.";
            with_secret(&ui, &p, &sub, &rotated, notice).await
        }
        Err(page) => page,
    }
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    event_type: String,
}

pub async fn send_test(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<TestForm>,
) -> Response {
    let mut body = json!({});
    if !form.event_type.is_empty() {
        body["event_type"] = json!(form.event_type);
    }
    match call_on(
        &ui,
        &headers,
        (&secret, &id),
        Method::POST,
        "/test",
        Some(&body),
    )
    .await
    {
        Ok((p, sub, sent)) => finished(&ui, &p, &sub, &sent, "test_sent").await,
        Err(page) => page,
    }
}

pub async fn redeliver(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    let body = json!({});
    let rest = "/dead_letters/redeliver";
    match call_on(
        &ui,
        &headers,
        (&secret, &id),
        Method::POST,
        rest,
        Some(&body),
    )
    .await
    {
        Ok((p, sub, redelivered)) => finished(&ui, &p, &sub, &redelivered, "redelivered").await,
        Err(page) => page,
    }
}
