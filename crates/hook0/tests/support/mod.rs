//! Shared by the tests that run the real `hook0` binary as separate processes: starting it and
//! reading the address it prints, wiring an application over the API, and a private PostgreSQL
//! server that a test may stop and restart. Deliveries go to `hook0-testkit`'s receiver.

#![allow(dead_code)]

pub mod postgres;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

// Each test binary uses a part of the kit.
#[allow(unused_imports)]
pub use hook0_testkit::Receiver;

pub const MASTER_KEY: &str = "3f1c1a52-5a7e-4a43-9c55-2f0a3f6f9a11";

/// A running `hook0` process; killed when dropped.
pub struct Hook0 {
    pub child: Child,
    /// `http://127.0.0.1:PORT/api/v1` for `serve` and `api`; empty for `worker`.
    pub api: String,
}

impl Drop for Hook0 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hook0 <role>` with the given environment (plus test defaults) and, for roles that
/// serve the API, waits until it prints where it listens.
pub fn start(role: &str, data_dir: &Path, env: &[(&str, &str)]) -> Hook0 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .arg(role)
        .env("HOOK0_DATA_DIR", data_dir)
        .env("PORT", "0")
        .env("MASTER_API_KEY", MASTER_KEY)
        .env("DISABLE_TARGET_IP_CHECK", "true")
        .env("DISABLE_API_RATE_LIMITING", "true")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the hook0 binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut api = String::new();
    if role != "worker" {
        api = loop {
            let line = lines.next().expect("hook0 printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("Hook0 API listening on ") {
                break rest.trim().to_string();
            }
        };
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Hook0 { child, api }
}

/// Creates an organization, an application, an event type and one subscription to `target`;
/// returns the application id.
pub async fn wire(http: &reqwest::Client, api: &str, target: &str) -> String {
    use serde_json::json;
    let org = post_json(http, api, "/organizations", json!({"name": "Test org"})).await;
    let app = post_json(
        http,
        api,
        "/applications",
        json!({"organization_id": org["organization_id"], "name": "Test app"}),
    )
    .await;
    let app_id = app["application_id"].as_str().unwrap().to_string();
    post_json(
        http,
        api,
        "/event_types",
        json!({"application_id": app_id, "service": "s", "resource_type": "r", "verb": "v"}),
    )
    .await;
    post_json(
        http,
        api,
        "/subscriptions",
        json!({
            "application_id": app_id, "is_enabled": true, "event_types": ["s.r.v"], "labels": {"k": "v"},
            "target": {"type": "http", "method": "POST", "url": target, "headers": {}}
        }),
    )
    .await;
    app_id
}

/// An organization and an application made with the master key; the application's id and its
/// default API key.
pub async fn application_with_key(api: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let org = post_json(
        &http,
        api,
        "/organizations",
        serde_json::json!({"name": "Acme"}),
    )
    .await;
    let app = post_json(
        &http,
        api,
        "/applications",
        serde_json::json!({"organization_id": org["organization_id"], "name": "Billing"}),
    )
    .await;
    let app_id = app["application_id"].as_str().unwrap().to_owned();
    let keys: serde_json::Value = http
        .get(format!("{api}/application_secrets?application_id={app_id}"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = keys[0]["token"].as_str().unwrap().to_owned();
    (app_id, key)
}

/// POSTs with the master key and returns the JSON answer, asserting success.
pub async fn post_json(
    http: &reqwest::Client,
    api: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = http
        .post(format!("{api}{path}"))
        .bearer_auth(MASTER_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Sends one event; `Some(event_id)` only when the server acknowledged it with 201.
pub async fn ingest(http: &reqwest::Client, api: &str, app_id: &str, n: usize) -> Option<String> {
    let body = serde_json::json!({
        "application_id": app_id, "event_type": "s.r.v", "payload": format!("{{\"n\":{n}}}"),
        "payload_content_type": "application/json", "labels": {"k": "v"}, "occurred_at": chrono::Utc::now()
    });
    let response = http
        .post(format!("{api}/event"))
        .bearer_auth(MASTER_KEY)
        .json(&body)
        .send()
        .await
        .ok()?;
    if response.status() != 201 {
        return None;
    }
    let body: serde_json::Value = response.json().await.ok()?;
    body["event_id"].as_str().map(String::from)
}
