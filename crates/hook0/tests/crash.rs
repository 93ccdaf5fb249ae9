//! Crash safety: the real binary is killed with SIGKILL while deliveries are in flight, then
//! restarted on the same data directory. Every event it acknowledged must reach the receiver.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{json, Value};

const MASTER_KEY: &str = "3f1c1a52-5a7e-4a43-9c55-2f0a3f6f9a11";

/// A receiver that takes its time (so the kill lands mid-delivery) and records event ids.
async fn slow_receiver(seen: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let id = headers
                    .get("x-event-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                seen.lock().unwrap().push(id);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Starts `hook0 serve` and returns it with the API base URL it printed.
fn start_server(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .arg("serve")
        .env("HOOK0_DATA_DIR", data_dir)
        .env("PORT", "0")
        .env("MASTER_API_KEY", MASTER_KEY)
        .env("DISABLE_TARGET_IP_CHECK", "true")
        .env("DISABLE_API_RATE_LIMITING", "true")
        .env("TIMEOUT", "2s")
        .env("DELIVERY_LEASE", "3s")
        .env("CONCURRENT", "4")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the hook0 binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("Hook0 API listening on ") {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_kill_during_delivery() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let receiver = slow_receiver(seen.clone()).await;
    let data = tempfile::tempdir().unwrap();
    let (mut server, api) = start_server(data.path());
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{api}{path}"))
            .bearer_auth(MASTER_KEY)
            .json(&body)
            .send()
    };

    let org: Value = call(
        reqwest::Method::POST,
        "/organizations",
        json!({"name": "Crash"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let app: Value = call(
        reqwest::Method::POST,
        "/applications",
        json!({"organization_id": org["organization_id"], "name": "Crash app"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let app_id = app["application_id"].as_str().unwrap().to_string();
    let r = call(
        reqwest::Method::POST,
        "/event_types",
        json!({"application_id": app_id, "service": "s", "resource_type": "r", "verb": "v"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let r = call(
        reqwest::Method::POST,
        "/subscriptions",
        json!({
            "application_id": app_id, "is_enabled": true, "event_types": ["s.r.v"], "labels": {"k": "v"},
            "target": {"type": "http", "method": "POST", "url": format!("http://{receiver}/hook"), "headers": {}}
        }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);

    let mut acknowledged = HashSet::new();
    for i in 0..40 {
        let r = call(
            reqwest::Method::POST,
            "/event",
            json!({
                "application_id": app_id, "event_type": "s.r.v", "payload": format!("{{\"n\":{i}}}"),
                "payload_content_type": "application/json", "labels": {"k": "v"},
                "occurred_at": chrono::Utc::now()
            }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        acknowledged.insert(body["event_id"].as_str().unwrap().to_string());
    }

    // Kill as soon as some deliveries have landed and others are in flight.
    let started = Instant::now();
    while seen.lock().unwrap().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no delivery before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let before_restart = seen.lock().unwrap().len();
    assert!(
        before_restart < acknowledged.len(),
        "the kill must land before everything was delivered"
    );

    let (mut server, _api) = start_server(data.path());
    let started = Instant::now();
    loop {
        let delivered: HashSet<String> = seen.lock().unwrap().iter().cloned().collect();
        if acknowledged.is_subset(&delivered) {
            break;
        }
        if started.elapsed() > Duration::from_secs(40) {
            server.kill().ok();
            let missing = acknowledged.difference(&delivered).count();
            panic!("{missing} acknowledged events never delivered after restart");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill().ok();
    server.wait().ok();
}
