//! The browser suite (`tests/browser/suite.mjs`): the dashboard in headless Chromium against a
//! real `hook0 serve`. It needs Debian's Chromium and the npm packages of
//! `tests/browser/package-lock.json`; this test installs what is missing (Chromium with
//! apt-get when run as root, the packages with `npm ci`) or fails saying what to run. It never
//! skips. Screenshots of the main pages, light and dark, land in `target/screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

/// Debian's Chromium, installed when missing and we may (root); else a loud failure.
fn ensure_chromium() {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if Path::new(CHROMIUM).exists() {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(
        root,
        "the browser suite needs Chromium at {CHROMIUM}: run `sudo apt-get install -y chromium`"
    );
    eprintln!("browser suite: installing Debian's chromium (apt-get install -y chromium)");
    run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install chromium",
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "chromium is still missing after apt-get"
    );
}

/// The suite's npm packages, from the lock file. The tests of this file run at once: one
/// installs while the others wait.
fn ensure_packages() {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = suite_dir();
    if dir.join("node_modules/playwright-core").exists()
        && dir.join("node_modules/@axe-core/playwright").exists()
    {
        return;
    }
    eprintln!("browser suite: installing its npm packages (npm ci)");
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir),
        "npm ci in crates/hook0/tests/browser (Node.js and npm are needed)",
    );
}

#[test]
fn the_dashboard_in_a_real_browser() {
    ensure_chromium();
    ensure_packages();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A slow endpoint, so that a delivery is seen under way before it succeeds.
    let receiver = runtime.block_on(support::Receiver::slow(std::time::Duration::from_secs(3)));
    let data = tempfile::tempdir().unwrap();
    // No retry: a failing delivery is a dead letter at once, for the redelivery walk.
    let server = support::start(
        "serve",
        data.path(),
        &[("RUST_LOG", "warn"), ("MAX_RETRIES", "0")],
    );
    let base = server.api.trim_end_matches("/api/v1").to_owned();
    let output = Command::new("node")
        .arg("suite.mjs")
        .current_dir(suite_dir())
        .env("HOOK0_URL", &base)
        .env("RECEIVER_URL", receiver.url("/hook"))
        .env("HOOK0_BIN", env!("CARGO_BIN_EXE_hook0"))
        .env("HOOK0_DATA_DIR", data.path())
        .env("SCREENSHOT_DIR", screenshot_dir())
        .output()
        .expect("node runs (Node.js 20 is needed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser suite failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    // The test event sent from the page reached the endpoint.
    runtime.block_on(receiver.wait_for_requests(1, std::time::Duration::from_secs(5)));
}

#[test]
fn the_mailed_links_in_a_real_browser() {
    ensure_chromium();
    ensure_packages();
    // The suite runs the SMTP sink; the server is told its port before it starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let data = tempfile::tempdir().unwrap();
    let server = support::start(
        "serve",
        data.path(),
        &[
            ("RUST_LOG", "warn"),
            ("SMTP_CONNECTION_URL", smtp.as_str()),
            ("EMAIL_SENDER_ADDRESS", "hook0@example.com"),
        ],
    );
    let base = server.api.trim_end_matches("/api/v1").to_owned();
    let output = Command::new("node")
        .arg("mail.mjs")
        .current_dir(suite_dir())
        .env("HOOK0_URL", &base)
        .env("SMTP_PORT", port.to_string())
        .output()
        .expect("node runs (Node.js 20 is needed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the mail suite failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}

/// A free loopback port (for the suite's host pages: the session must name their origin).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_consumer_portal_in_a_real_browser() {
    ensure_chromium();
    ensure_packages();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = runtime.block_on(support::Receiver::start());
    let data = tempfile::tempdir().unwrap();
    let server = support::start("serve", data.path(), &[("RUST_LOG", "warn")]);
    let (host_port, stranger_port) = (free_port(), free_port());
    let host_origin = format!("http://127.0.0.1:{host_port}");
    // The sender's side, through the API: one application, two customers, three sessions.
    let (full, read_only, expired) = runtime.block_on(async {
        use serde_json::json;
        let http = reqwest::Client::new();
        let api = server.api.as_str();
        let (app, _) = support::application_with_key(api).await;
        support::post_json(&http, api, "/event_types", json!({
            "application_id": app, "service": "billing", "resource_type": "invoice", "verb": "paid",
        }))
        .await;
        for (tenant, name, url) in [
            ("acme", "Acme ledger", receiver.url("/hook")),
            (
                "globex",
                "globex ledger",
                "https://globex.example/hook".to_owned(),
            ),
        ] {
            support::post_json(&http, api, "/subscriptions", json!({
                "application_id": app, "is_enabled": true, "event_types": ["billing.invoice.paid"],
                "description": name, "labels": { "tenant": tenant },
                "target": { "type": "http", "method": "POST", "url": url, "headers": {} },
            }))
            .await;
        }
        let mint = async |capabilities: serde_json::Value| {
            let session = support::post_json(
                &http,
                api,
                "/portal_sessions",
                json!({
                    "application_id": app, "labels": { "tenant": "acme" },
                    "capabilities": capabilities, "allowed_origins": [host_origin],
                    "theme": { "accent": "#7b2cbf" },
                }),
            )
            .await;
            (
                session["url"].as_str().unwrap().to_owned(),
                session["portal_session_id"]
                    .as_str()
                    .unwrap()
                    .parse::<uuid::Uuid>()
                    .unwrap(),
            )
        };
        let full = mint(json!([
            "view",
            "manage_subscriptions",
            "view_secret",
            "rotate_secret",
            "retry",
            "send_test"
        ]))
        .await;
        let read_only = mint(json!(["view"])).await;
        let expired = mint(json!(["view"])).await;
        (full.0, read_only.0, expired)
    });
    // A session past its expiry: its row moved back in time (the server reads the clock).
    let db = rusqlite::Connection::open(data.path().join("hook0.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let moved = db
        .execute(
            "UPDATE portal_session SET expires_at = created_at - 1 WHERE id = ?",
            [expired.1],
        )
        .unwrap();
    assert_eq!(moved, 1);
    let output = Command::new("node")
        .arg("portal.mjs")
        .current_dir(suite_dir())
        .env("PORTAL_URL", &full)
        .env("PORTAL_READONLY_URL", &read_only)
        .env("PORTAL_EXPIRED_URL", &expired.0)
        .env("HOST_PORT", host_port.to_string())
        .env("STRANGER_PORT", stranger_port.to_string())
        .env("SCREENSHOT_DIR", screenshot_dir())
        .output()
        .expect("node runs (Node.js 20 is needed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the portal suite failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    // The test event and the resend reached the customer's endpoint, and only it.
    assert!(receiver.count() >= 2, "{} deliveries", receiver.count());
}
