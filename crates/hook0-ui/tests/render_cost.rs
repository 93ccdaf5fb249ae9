//! What the delivery log costs to render with a full page of 50 attempts (and the event page
//! with its attempts), through the router in-process: the API calls the page makes, the
//! template, everything but the network. Ignored by default; run it on the release build:
//!
//! `cargo test --release -p hook0-ui --test render_cost -- --ignored --nocapture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request};
use hook0_api::{ApiConfig, AppState};
use hook0_store::sqlite::SqliteStore;
use hook0_store::{Store, StoreOptions};
use serde_json::{json, Value};
use tower::ServiceExt;

const ROUNDS: usize = 200;

async fn call(router: &axum::Router, request: Request<Body>) -> (u16, String, Vec<String>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned(), cookies)
}

fn api(method: &str, path: &str, token: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("/api/v1{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
async fn a_full_page_of_attempts_renders_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(
            dir.path().join("hook0.db").to_str().unwrap(),
            &StoreOptions::default(),
        )
        .await
        .unwrap(),
    );
    let config = ApiConfig {
        app_url: "http://hook0.test".into(),
        ..ApiConfig::default()
    };
    let api_router = hook0_api::router(AppState {
        store: store.clone(),
        config: Arc::new(config),
    });
    let ui = hook0_ui::router(
        api_router.clone(),
        hook0_ui::UiConfig {
            app_url: "http://hook0.test".into(),
            registration_open: true,
            password_minimum_length: 12,
        },
    );
    // A user, an application, a subscription, 60 events: 60 pending attempts (no worker).
    let password = "correct-zebra-staple-42";
    let registered = Request::post("/api/v1/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "first_name": "Ada", "last_name": "L", "email": "ada@example.com", "password": password }).to_string()))
        .unwrap();
    let (_, body, _) = call(&api_router, registered).await;
    let org = serde_json::from_str::<Value>(&body).unwrap()["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "email": "ada@example.com", "password": password }).to_string(),
        ))
        .unwrap();
    let (_, body, _) = call(&api_router, login).await;
    let login: Value = serde_json::from_str(&body).unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (_, body, _) = call(
        &api_router,
        api(
            "POST",
            "/applications",
            &token,
            json!({ "organization_id": org, "name": "Billing" }),
        ),
    )
    .await;
    let app = serde_json::from_str::<Value>(&body).unwrap()["application_id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(&api_router, api("POST", "/event_types", &token, json!({ "application_id": app, "service": "billing", "resource_type": "invoice", "verb": "paid" }))).await;
    call(&api_router, api("POST", "/subscriptions", &token, json!({ "application_id": app, "is_enabled": true,
        "event_types": ["billing.invoice.paid"], "labels": { "tenant": "acme" },
        "target": { "type": "http", "method": "POST", "url": "https://example.com/hook", "headers": {} } }))).await;
    let mut event_id = String::new();
    for i in 0..60 {
        let (_, body, _) = call(
            &api_router,
            api(
                "POST",
                "/event",
                &token,
                json!({ "application_id": app,
            "event_type": "billing.invoice.paid", "payload": format!("{{\"n\":{i}}}"),
            "payload_content_type": "application/json", "labels": { "tenant": "acme" },
            "occurred_at": "2026-01-01T00:00:00Z" }),
            ),
        )
        .await;
        event_id = serde_json::from_str::<Value>(&body).unwrap()["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let cookie = format!(
        "hook0_access={}; hook0_refresh={}",
        token,
        login["refresh_token"].as_str().unwrap()
    );
    let pages = [
        (
            "delivery log, 50 attempts",
            format!("/organizations/{org}/applications/{app}/logs"),
        ),
        (
            "event with its attempts",
            format!("/organizations/{org}/applications/{app}/events/{event_id}"),
        ),
        (
            "organization dashboard",
            format!("/organizations/{org}/dashboard"),
        ),
    ];
    for (name, path) in pages {
        let get = || {
            Request::get(path.as_str())
                .header(header::COOKIE, cookie.as_str())
                .body(Body::empty())
                .unwrap()
        };
        let (status, html, _) = call(&ui, get()).await;
        assert_eq!(status, 200, "{html}");
        if name.starts_with("delivery") {
            assert_eq!(html.matches("aria-label=\"Attempt ").count(), 50);
        }
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let (status, _, _) = call(&ui, get()).await;
            times.push(started.elapsed());
            assert_eq!(status, 200);
        }
        times.sort();
        println!(
            "{name}: p50 {:.2} ms, p99 {:.2} ms over {ROUNDS} renders",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0
        );
    }
}
