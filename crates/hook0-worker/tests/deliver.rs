//! `deliver` on its own against a real loopback receiver: how each way of failing is named,
//! whether it is retried, and which headers win.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use hook0_core::delivery::{AttemptRef, DeliveryJob, DeliveryOutcome};
use hook0_core::model::{HttpTarget, PayloadContentType, StringMap};
use hook0_core::signature::SignatureVersions;
use hook0_worker::{deliver, http_client, WorkerConfig};
use uuid::Uuid;

fn job(url: &str, headers: &[(&str, &str)]) -> DeliveryJob {
    let now = Utc::now();
    DeliveryJob {
        attempt: AttemptRef {
            attempt_id: Uuid::now_v7(),
            application_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            subscription_id: Uuid::now_v7(),
            retry_count: 0,
        },
        due_at: now,
        event_received_at: now,
        event_type_name: EVENT_TYPE.into(),
        payload: b"\x00\x01binary".to_vec(),
        payload_content_type: PayloadContentType::OctetStreamBase64,
        target: HttpTarget {
            method: "PUT".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<StringMap>(),
        },
        secret: Uuid::new_v4(),
        standard_webhooks_secrets: Vec::new(),
    }
}

async fn send(config: &WorkerConfig, job: &DeliveryJob) -> DeliveryOutcome {
    let client = http_client::build_client(config).unwrap();
    deliver(&client, config, job).await
}

fn error_name(outcome: &DeliveryOutcome) -> Option<&str> {
    outcome.response.error_name.as_deref()
}

#[tokio::test]
async fn reserved_headers_overwrite_custom_ones_case_insensitively() {
    let receiver = Receiver::start().await;
    let job = job(
        &receiver.url("/"),
        &[
            ("Content-Type", "text/html"),
            ("X-EVENT-ID", "forged"),
            ("X-Keep", "1"),
        ],
    );
    let outcome = send(&test_config(), &job).await;

    assert!(outcome.succeeded);
    assert_eq!(outcome.retry_at, None);
    let seen = receiver.requests();
    let request = &seen[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.body, job.payload, "raw bytes, not base64");
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("content-type"), "application/octet-stream+base64");
    assert_eq!(header("x-event-id"), job.attempt.event_id.to_string());
    assert_eq!(request.headers.get_all("x-event-id").iter().count(), 1);
    assert_eq!(header("x-keep"), "1");
    assert!(
        header("x-hook0-signature").contains(",h=content-type x-event-id x-event-type x-keep,v1=")
    );
}

#[tokio::test]
async fn both_signature_versions_on_a_custom_header_name() {
    let receiver = Receiver::start().await;
    let config = WorkerConfig {
        signature_header_name: "X-Sig".into(),
        signature_versions: SignatureVersions { v0: true, v1: true },
        ..test_config()
    };
    send(&config, &job(&receiver.url("/"), &[])).await;
    let seen = receiver.requests();
    let signature = seen[0].headers.get("x-sig").unwrap().to_str().unwrap();
    let keys: Vec<&str> = signature
        .split(',')
        .map(|p| p.split_once('=').unwrap().0)
        .collect();
    assert_eq!(keys, ["t", "v0", "h", "v1"]);
    assert!(seen[0].headers.get("x-hook0-signature").is_none());
}

#[tokio::test]
async fn an_invalid_custom_header_is_never_retried() {
    let receiver = Receiver::start().await;
    let outcome = send(
        &test_config(),
        &job(&receiver.url("/"), &[("X-Bad", "a\nb")]),
    )
    .await;
    assert!(!outcome.succeeded);
    assert_eq!(error_name(&outcome), Some("E_INVALID_HEADER"));
    assert_eq!(outcome.retry_at, None);
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let before = Utc::now();
    let outcome = send(
        &test_config(),
        &job(&format!("http://127.0.0.1:{port}/"), &[]),
    )
    .await;
    assert_eq!(error_name(&outcome), Some("E_CONNECTION"));
    assert!(!outcome.response.body.unwrap().is_empty(), "message stored");
    let retry_at = outcome.retry_at.expect("retried");
    assert!(retry_at >= before + chrono::Duration::milliseconds(50));
}

#[tokio::test]
async fn a_slow_target_times_out() {
    let receiver = Receiver::answering(|_| Reply::status(200).delay(Duration::from_secs(5))).await;
    let config = WorkerConfig {
        timeout: Duration::from_millis(300),
        ..test_config()
    };
    let outcome = send(&config, &job(&receiver.url("/"), &[])).await;
    assert_eq!(error_name(&outcome), Some("E_TIMEOUT"));
    assert!(outcome.retry_at.is_some());
}

#[tokio::test]
async fn retry_after_is_a_lower_bound_on_429() {
    let receiver = Receiver::answering(|_| Reply::status(429).header("retry-after", "120")).await;
    let before = Utc::now();
    let outcome = send(&test_config(), &job(&receiver.url("/"), &[])).await;
    assert_eq!(error_name(&outcome), Some("E_HTTP"));
    assert_eq!(outcome.response.http_code, Some(429));
    let retry_at = outcome.retry_at.unwrap();
    assert!(retry_at >= before + chrono::Duration::seconds(120));
    assert!(retry_at <= Utc::now() + chrono::Duration::seconds(121));
}

#[tokio::test]
async fn retry_after_is_ignored_on_other_statuses() {
    let receiver = Receiver::answering(|_| Reply::status(503).header("retry-after", "120")).await;
    let outcome = send(&test_config(), &job(&receiver.url("/"), &[])).await;
    assert!(outcome.retry_at.unwrap() < Utc::now() + chrono::Duration::seconds(5));
}

#[tokio::test]
async fn exhausted_retries_schedule_nothing() {
    let receiver = Receiver::answering(|_| Reply::status(500)).await;
    let mut job = job(&receiver.url("/"), &[]);
    job.attempt.retry_count = 5; // test_config allows 5 retries
    let outcome = send(&test_config(), &job).await;
    assert_eq!(error_name(&outcome), Some("E_HTTP"));
    assert_eq!(outcome.retry_at, None);
}

#[tokio::test]
async fn unusable_targets_are_invalid() {
    for url in ["not a url", "ftp://example.com/"] {
        let outcome = send(&test_config(), &job(url, &[])).await;
        assert_eq!(error_name(&outcome), Some("E_INVALID_TARGET"), "{url}");
    }
    let config = WorkerConfig {
        disable_target_ip_check: false,
        ..test_config()
    };
    let outcome = send(
        &config,
        &job("http://169.254.169.254/latest/meta-data", &[]),
    )
    .await;
    assert_eq!(error_name(&outcome), Some("E_INVALID_TARGET"));
    assert!(outcome.retry_at.is_some(), "retried, as upstream does");
}
