//! One delivery in full (status, the endpoint's answer, the event sent), and resending it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::json;

use super::subscriptions::not_found;
use super::{forged, problem_of, Portal};
use crate::client::Problem;
use crate::pages::attempts::AttemptView;
use crate::pages::events::readable;
use crate::pages::logs::ResponseView;
use crate::UiState;

/// The event as the attempt delivered it.
struct EventView {
    id: String,
    content_type: String,
    payload: String,
}

#[derive(Template)]
#[template(path = "portal/attempt.html")]
struct AttemptPage<'a> {
    p: &'a Portal,
    attempt: AttemptView,
    response: Option<ResponseView>,
    event: Option<EventView>,
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

async fn render(
    ui: &UiState,
    p: &Portal,
    id: &str,
    notice: Option<&str>,
    problem: Option<Problem>,
) -> Response {
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return not_found(p);
    };
    let found = p
        .call(ui, Method::GET, &format!("/request_attempts/{id}"), None)
        .await;
    if !found.is_success() {
        return not_found(p);
    }
    let body = &found.body;
    let event = body["event"].as_object().map(|e| {
        let content_type = e["payload_content_type"].as_str().unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["payload"].as_str().unwrap_or_default())
            .unwrap_or_default();
        EventView {
            id: e["event_id"].as_str().unwrap_or_default().to_owned(),
            content_type: content_type.to_owned(),
            payload: readable(&bytes, content_type).0,
        }
    });
    let page = AttemptPage {
        p,
        attempt: AttemptView::from_json(&body["request_attempt"]),
        response: body["response"]
            .is_object()
            .then(|| ResponseView::from_json(&body["response"])),
        event,
        notice,
        problem,
    };
    p.respond(StatusCode::OK, &page)
}

pub async fn attempt(
    State(ui): State<UiState>,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    render(&ui, &p, &id, None, None).await
}

pub async fn resend(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((secret, id)): Path<(String, String)>,
) -> Response {
    if !super::posted_here(&ui, &headers) {
        return forged();
    }
    let p = match Portal::open(&ui, &secret).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return not_found(&p);
    };
    let resent = p
        .call(
            &ui,
            Method::POST,
            &format!("/request_attempts/{id}/resend"),
            Some(&json!({})),
        )
        .await;
    match resent.body["request_attempt_id"].as_str() {
        Some(new) if resent.is_success() => p.redirect(&format!("/attempts/{new}")),
        _ => render(&ui, &p, &id.to_string(), None, problem_of(&resent)).await,
    }
}
