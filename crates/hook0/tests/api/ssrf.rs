//! The SSRF guard, switched on: targets that are or resolve to loopback, private, link-local or
//! otherwise non-global addresses are refused before any connection, with `E_INVALID_TARGET`.
//!
//! Loopback targets point at a live receiver, which must see nothing. Non-loopback targets
//! (10.0.0.1, 169.254.169.254) must never be contacted; should the guard fail, the 1 s connect
//! timeout keeps the test short and the error name (not `E_INVALID_TARGET`) makes it fail.

use std::time::Duration;

use crate::helpers::*;

async fn guarded_app() -> TestApp {
    spawn_app_with(|cfg| {
        cfg.worker.disable_target_ip_check = false;
        cfg.worker.connect_timeout = Duration::from_secs(1);
        cfg.worker.retry.max_retries = 0;
    })
    .await
}

/// Subscribes `target(receiver)`, ingests one event, and checks the refusal.
async fn assert_refused(target: impl FnOnce(&Receiver) -> String) {
    let app = guarded_app().await;
    let receiver = Receiver::start().await;
    let url = target(&receiver);
    let wired = app.wire(&url).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(
            &wired.application_id,
            &event_id,
            Duration::from_secs(10),
            |a| a.iter().all(finished),
        )
        .await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status"]["type"], "failed", "{url}");
    let response = app
        .response(
            &wired.application_id,
            attempts[0]["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(
        response["response_error_name"], "E_INVALID_TARGET",
        "{url}: {response}"
    );
    assert!(response["http_code"].is_null(), "{url}: {response}");
    assert!(receiver.requests().is_empty(), "{url} reached the receiver");
}

#[tokio::test]
async fn loopback_ipv4_is_refused() {
    assert_refused(|r| format!("http://127.0.0.1:{}/hook", r.addr.port())).await;
}

#[tokio::test]
async fn shorthand_loopback_ipv4_is_refused() {
    assert_refused(|r| format!("http://127.1:{}/hook", r.addr.port())).await;
}

#[tokio::test]
async fn the_unspecified_address_is_refused() {
    assert_refused(|r| format!("http://0.0.0.0:{}/hook", r.addr.port())).await;
}

#[tokio::test]
async fn a_private_address_is_refused() {
    assert_refused(|_| "http://10.0.0.1/hook".to_owned()).await;
}

#[tokio::test]
async fn the_cloud_metadata_address_is_refused() {
    assert_refused(|_| "http://169.254.169.254/latest/meta-data/".to_owned()).await;
}

#[tokio::test]
async fn loopback_ipv6_is_refused() {
    assert_refused(|r| format!("http://[::1]:{}/hook", r.addr.port())).await;
}

#[tokio::test]
async fn ipv4_mapped_loopback_is_refused() {
    assert_refused(|r| format!("http://[::ffff:127.0.0.1]:{}/hook", r.addr.port())).await;
}

#[tokio::test]
async fn a_hostname_resolving_to_loopback_is_refused() {
    assert_refused(|r| format!("http://localhost:{}/hook", r.addr.port())).await;
}
