//! The delivery log: an application's attempts, newest first, filtered by status,
//! subscription, event type and dates (all in the URL, so a link reproduces the view), paged by
//! the API's cursor; and each attempt with the response it got, and a second delivery for a
//! dead letter.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use base64::Engine;
use serde::Deserialize;

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::attempts::{AttemptView, STATUSES};
use crate::pages::event_types::catalog;
use crate::pages::events::readable;
use crate::pages::organizations::not_found;
use crate::pages::request_sent::RequestView;
use crate::pages::subscriptions::CsrfOnly;
use crate::pages::subscriptions::SubscriptionView;
use crate::pages::{refused, signed_in_form};
use crate::{redirect, UiState};

/// The filters of the log, as they come in its URL.
#[derive(Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub subscription_id: String,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub cursor: String,
}

/// Keeps only what could be a value of each filter, so that nothing odd reaches a URL.
fn clean(value: &str, allowed: impl Fn(u8) -> bool) -> String {
    value
        .bytes()
        .filter(|b| allowed(*b))
        .map(char::from)
        .take(200)
        .collect()
}

impl Filters {
    fn sanitized(self) -> Self {
        let id = |b: u8| b.is_ascii_hexdigit() || b == b'-';
        let date = |b: u8| b.is_ascii_digit() || b == b'-';
        Self {
            status: if STATUSES.iter().any(|(v, _)| *v == self.status) {
                self.status
            } else {
                String::new()
            },
            subscription_id: clean(&self.subscription_id, id),
            event_type: clean(&self.event_type, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
            }),
            from: clean(&self.from, date),
            to: clean(&self.to, date),
            cursor: clean(&self.cursor, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
            }),
        }
    }

    /// The query of this view (without the cursor), for the API or a link.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for (key, value) in [
            ("status", &self.status),
            ("subscription_id", &self.subscription_id),
            ("event_type", &self.event_type),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                q.push((key, value.clone()));
            }
        }
        q
    }
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    statuses: &'static [(&'static str, &'static str)],
    subscriptions: Vec<(String, String)>,
    catalog: Vec<String>,
    filters: Filters,
    attempts: Vec<AttemptView>,
    next_page: Option<String>,
    problem: Option<Problem>,
}

pub(crate) struct ResponseView {
    pub http_code: String,
    pub error: String,
    pub elapsed_ms: i64,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ResponseView {
    /// From the API's `Response` body.
    pub(crate) fn from_json(r: &serde_json::Value) -> Self {
        let body = r["body"].as_str().unwrap_or_default();
        // Upstream's wire form: UTF-8 text, or base64 when the bytes are not UTF-8.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()
            .filter(|b| std::str::from_utf8(b).is_err())
            .unwrap_or_else(|| body.as_bytes().to_vec());
        ResponseView {
            http_code: r["http_code"]
                .as_i64()
                .map_or("—".into(), |c| c.to_string()),
            error: r["response_error_name"].as_str().unwrap_or("—").to_owned(),
            elapsed_ms: r["elapsed_time_ms"].as_i64().unwrap_or(0),
            headers: r["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            body: readable(&bytes, "text/plain").0,
        }
    }
}

#[derive(Template)]
#[template(path = "attempt.html")]
struct AttemptPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    attempt: AttemptView,
    request: Option<RequestView>,
    response: Option<ResponseView>,
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Query(filters): Query<Filters>,
) -> Response {
    let filters = filters.sanitized();
    let mut ctx = match AppPage::open(&ui, &headers, &org, &app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let mut api_query = vec![("application_id", ctx.app.id.to_string())];
    for (key, value) in filters.query() {
        match key {
            "from" => api_query.push(("min_created_at", format!("{value}T00:00:00Z"))),
            "to" => api_query.push(("max_created_at", format!("{value}T23:59:59.999999Z"))),
            other => api_query.push((other, value)),
        }
    }
    if !filters.cursor.is_empty() {
        api_query.push(("pagination_cursor", filters.cursor.clone()));
    }
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(api_query.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let listed = ctx
        .session
        .get(&format!("/request_attempts?{encoded}"))
        .await;
    let problem = (!listed.is_success()).then(|| listed.problem());
    if ctx.session.token_refused(&listed) || listed.status == StatusCode::FORBIDDEN {
        return refused(&ui, &ctx.session, &ctx.csrf, &listed);
    }
    let next_page = listed.next_cursor.as_ref().map(|cursor| {
        let mut q = filters.query();
        q.push(("cursor", cursor.clone()));
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        format!(
            "/organizations/{}/applications/{}/logs?{encoded}",
            ctx.app.org_id, ctx.app.id
        )
    });
    let subs = ctx
        .session
        .get(&format!("/subscriptions?application_id={}", ctx.app.id))
        .await;
    let subscriptions = subs
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let id = s["subscription_id"].as_str().unwrap_or_default().to_owned();
            let label = s["description"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| s["target"]["url"].as_str().unwrap_or_default().to_owned());
            (id, label)
        })
        .collect();
    let catalog = catalog(&mut ctx.session, &ctx.app).await;
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = LogPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "logs",
        statuses: &STATUSES,
        subscriptions,
        catalog,
        attempts: AttemptView::list(&listed.body),
        filters,
        next_page,
        problem,
    };
    ctx.respond(status, &template)
}

async fn render_attempt(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    id: &str,
    notice: Option<&str>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return refused(ui, &ctx.session, &ctx.csrf, &not_found());
    };
    let found = ctx
        .session
        .get(&format!(
            "/request_attempts/{id}?application_id={}",
            ctx.app.id
        ))
        .await;
    if !found.is_success() {
        return refused(ui, &ctx.session, &ctx.csrf, &found);
    }
    let attempt = AttemptView::from_json(&found.body);
    let mut attempt = attempt;
    // A failed attempt with no retry left is a dead letter: say so, and offer a redelivery.
    if attempt.status == "failed" {
        let dead = ctx
            .session
            .get(&format!(
                "/request_attempts?application_id={}&event_id={}&status=dead_letter",
                ctx.app.id, attempt.event_id
            ))
            .await;
        if AttemptView::list(&dead.body)
            .iter()
            .any(|a| a.id == attempt.id)
        {
            attempt.status = "dead_letter".into();
            attempt.status_label = "dead letter (no retry left)".into();
        }
    }
    let response = match &attempt.response_id {
        Some(response_id) => {
            let r = ctx
                .session
                .get(&format!(
                    "/responses/{response_id}?application_id={}",
                    ctx.app.id
                ))
                .await;
            r.is_success().then(|| ResponseView::from_json(&r.body))
        }
        None => None,
    };
    let request = request_sent(&mut ctx, &attempt).await;
    let template = AttemptPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "logs",
        attempt,
        request,
        response,
        notice,
        problem,
    };
    ctx.respond(StatusCode::OK, &template)
}

pub async fn detail(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
) -> Response {
    render_attempt(&ui, &headers, &org, &app, &id, None, None).await
}

pub async fn retry(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app, id)): Path<(String, String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(id), Ok(app_id)) = (id.parse::<uuid::Uuid>(), app.parse::<uuid::Uuid>()) else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let retried = session
        .call(
            Method::POST,
            &format!("/request_attempts/{id}/retry"),
            Some(&serde_json::json!({ "application_id": app_id })),
        )
        .await;
    if retried.is_success() {
        let new_id = retried.body["request_attempt_id"]
            .as_str()
            .unwrap_or_default();
        let to = format!("/organizations/{org}/applications/{app}/logs/{new_id}");
        return redirect(&to, session.set_cookies);
    }
    if session.token_refused(&retried) {
        return refused(&ui, &session, &csrf, &retried);
    }
    render_attempt(
        &ui,
        &headers,
        &org,
        &app,
        &id.to_string(),
        None,
        Some(retried.problem()),
    )
    .await
}

/// The request the attempt sent, told again from its subscription and event (`None` when
/// either is gone).
async fn request_sent(ctx: &mut AppPage<'_>, attempt: &AttemptView) -> Option<RequestView> {
    let app = ctx.app.id;
    let subscription = ctx
        .session
        .get(&format!(
            "/subscriptions/{}?application_id={app}",
            attempt.subscription_id
        ))
        .await;
    let event = ctx
        .session
        .get(&format!(
            "/events/{}?application_id={app}",
            attempt.event_id
        ))
        .await;
    if !subscription.is_success() || !event.is_success() {
        return None;
    }
    Some(RequestView::new(
        &SubscriptionView::from_json(&subscription.body),
        &attempt.event_id,
        &attempt.event_type,
        event.body["payload_content_type"]
            .as_str()
            .unwrap_or_default(),
    ))
}
