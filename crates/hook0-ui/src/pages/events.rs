//! An application's events: the most recent ones, and each one with its payload (JSON shown
//! indented, text as text, anything else in hex), its labels and metadata, its delivery
//! attempts, and a replay.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use base64::Engine;
use serde_json::{json, Value};

use crate::client::Problem;
use crate::pages::applications::{AppCtx, AppPage};
use crate::pages::attempts::AttemptView;
use crate::pages::organizations::not_found;
use crate::pages::subscriptions::CsrfOnly;
use crate::pages::{readable_time, refused, signed_in_form};
use crate::UiState;

/// Payload bytes shown at most.
const MAX_SHOWN: usize = 64 * 1024;

pub(crate) struct EventView {
    pub id: String,
    pub event_type: String,
    pub received_at: String,
    pub occurred_at: String,
    pub ip: String,
    pub content_type: String,
    pub labels: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
    pub payload: String,
    pub payload_format: &'static str,
}

fn pairs(map: &Value) -> Vec<(String, String)> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The payload as a person reads it, and what it was shown as.
pub(crate) fn readable(bytes: &[u8], content_type: &str) -> (String, &'static str) {
    let shown = &bytes[..bytes.len().min(MAX_SHOWN)];
    let cut = if bytes.len() > MAX_SHOWN {
        "\n… (cut)"
    } else {
        ""
    };
    if content_type == "application/json" {
        if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
            let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
            return (pretty.chars().take(MAX_SHOWN).collect(), "JSON");
        }
    }
    if let Ok(text) = std::str::from_utf8(shown) {
        return (format!("{text}{cut}"), "text");
    }
    let hex = shown
        .chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let bytes: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:08x}  {}", i * 16, bytes.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    (format!("{hex}{cut}"), "hex")
}

impl EventView {
    fn from_json(e: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let content_type = text(&e["payload_content_type"]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["payload"].as_str().unwrap_or_default())
            .unwrap_or_default();
        let (payload, payload_format) = readable(&bytes, &content_type);
        Self {
            id: text(&e["event_id"]),
            event_type: text(&e["event_type_name"]),
            received_at: readable_time(&text(&e["received_at"])),
            occurred_at: readable_time(&text(&e["occurred_at"])),
            ip: e["ip"].as_str().unwrap_or("—").to_owned(),
            content_type,
            labels: pairs(&e["labels"]),
            metadata: pairs(&e["metadata"]),
            payload,
            payload_format,
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct ListPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    events: Vec<EventView>,
    problem: Option<Problem>,
}

#[derive(Template)]
#[template(path = "event.html")]
struct DetailPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    event: EventView,
    attempts: Vec<AttemptView>,
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    let mut ctx = match AppPage::open(&ui, &headers, &org, &app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let listed = ctx
        .session
        .get(&format!("/events?application_id={}", ctx.app.id))
        .await;
    if !listed.is_success() {
        return refused(&ui, &ctx.session, &ctx.csrf, &listed);
    }
    let template = ListPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "events",
        events: listed
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(EventView::from_json)
            .collect(),
        problem: None,
    };
    ctx.respond(StatusCode::OK, &template)
}

async fn render_detail(
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
        .get(&format!("/events/{id}?application_id={}", ctx.app.id))
        .await;
    if !found.is_success() {
        return refused(ui, &ctx.session, &ctx.csrf, &found);
    }
    let attempts = ctx
        .session
        .get(&format!(
            "/request_attempts?application_id={}&event_id={id}",
            ctx.app.id
        ))
        .await;
    let template = DetailPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "events",
        event: EventView::from_json(&found.body),
        attempts: AttemptView::list(&attempts.body),
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
    render_detail(&ui, &headers, &org, &app, &id, None, None).await
}

pub async fn replay(
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
    let replayed = session
        .call(
            Method::POST,
            &format!("/events/{id}/replay"),
            Some(&json!({ "application_id": app_id })),
        )
        .await;
    if !replayed.is_success() {
        return refused(&ui, &session, &csrf, &replayed);
    }
    render_detail(
        &ui,
        &headers,
        &org,
        &app,
        &id.to_string(),
        Some("Replayed: new attempts are queued for every subscription matching the event now."),
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn payloads_read_as_json_text_or_hex() {
        assert_eq!(
            readable(br#"{"a":1}"#, "application/json"),
            ("{\n  \"a\": 1\n}".into(), "JSON")
        );
        assert_eq!(readable(b"hello", "text/plain").1, "text");
        let (hex, format) = readable(&[0xff, 0x00, 0x41], "application/octet-stream+base64");
        assert_eq!(format, "hex");
        assert_eq!(hex, "00000000  ff 00 41");
    }
}
