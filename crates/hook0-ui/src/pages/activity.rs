//! An application's activity: what Hook0 did on its own (`GET /operational_events`), newest
//! first, told as sentences: a subscription disabled after failing for too long, and any other
//! kind as its type and data.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::{readable_time, refused};
use crate::UiState;

/// One operational event as the page tells it.
pub(crate) struct ActivityItem {
    pub at: String,
    pub title: String,
    /// What happened, in a sentence.
    pub detail: String,
    /// The subscription it is about, when there is one: its id.
    pub subscription_id: Option<String>,
    /// Events of a kind the page does not know: their data, indented.
    pub data: Option<String>,
}

impl ActivityItem {
    fn from_json(e: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let payload = &e["payload"];
        let at = readable_time(&text(&e["occurred_at"]));
        match e["event_type"].as_str().unwrap_or_default() {
            hook0_core::model::SUBSCRIPTION_DISABLED => {
                let description = text(&payload["description"]);
                let target = text(&payload["target_url"]);
                let name = if description.is_empty() {
                    target.clone()
                } else {
                    format!("{description} ({target})")
                };
                let since = readable_time(&text(&payload["failing_since"]));
                let failures = payload["consecutive_failures"].as_i64().unwrap_or(0);
                Self {
                    at,
                    title: "Subscription disabled".into(),
                    detail: format!(
                        "{name} failed {failures} times in a row since {since}, so Hook0 disabled it and moved its pending deliveries to the dead letters. Fix the endpoint, enable the subscription, then redeliver them."
                    ),
                    subscription_id: payload["subscription_id"].as_str().map(str::to_owned),
                    data: None,
                }
            }
            other => Self {
                at,
                title: other.to_owned(),
                detail: String::new(),
                subscription_id: None,
                data: serde_json::to_string_pretty(payload).ok(),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    items: Vec<ActivityItem>,
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    let mut page = match AppPage::open(&ui, &headers, &org, &app).await {
        Ok(page) => page,
        Err(answer) => return answer,
    };
    let answer = page
        .session
        .get(&format!(
            "/operational_events?application_id={}",
            page.app.id
        ))
        .await;
    if !answer.is_success() {
        return refused(&ui, &page.session, &page.csrf, &answer);
    }
    let items = answer
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(ActivityItem::from_json)
        .collect();
    let template = ActivityPage {
        signed_in: true,
        csrf: &page.csrf,
        app: &page.app,
        tab: "activity",
        items,
    };
    page.respond(StatusCode::OK, &template)
}
