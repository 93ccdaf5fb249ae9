//! Deliveries as a receiver sees them: method, headers, body, and the `X-Hook0-Signature`,
//! checked here with an HMAC computed independently of `hook0_core::signature`.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_delivery_carries_upstreams_headers_and_a_v1_signature() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let wired = app
        .wire_with(&receiver.url("/hooks/invoices"), |sub| {
            sub["target"]["headers"] =
                json!({ "X-Tenant": "acme", "Authorization": "Bearer receiver-token" });
        })
        .await;
    let body = app.event_body(&wired.application_id);

    let event_id = app.ingest_with(&body).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/invoices");
    assert_eq!(request.body, body["payload"].as_str().unwrap().as_bytes());
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-event-id"), Some(event_id.as_str()));
    assert_eq!(request.header("x-event-type"), Some(EVENT_TYPE));
    assert_eq!(request.header("x-tenant"), Some("acme"));
    assert_eq!(
        request.header("authorization"),
        Some("Bearer receiver-token")
    );
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("hook0-output-worker/"),
        "{:?}",
        request.header("user-agent")
    );

    let parts = verify(&request, "x-hook0-signature", &wired.secret);
    assert_eq!(keys(&parts), ["t", "h", "v1"], "v1 only by default");
    assert_eq!(
        part(&parts, "h"),
        "authorization content-type x-event-id x-event-type x-tenant"
    );
    // The verifier is not fooled by another key.
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    let forged = v1(
        &uuid::Uuid::new_v4().to_string(),
        part(&parts, "t"),
        part(&parts, "h"),
        &headers,
        &request.body,
    );
    assert_ne!(part(&parts, "v1"), forged);
}

#[tokio::test]
async fn v0_and_v1_are_both_sent_when_enabled() {
    let app = spawn_app_with(|cfg| {
        cfg.worker.signature_versions =
            hook0_core::signature::SignatureVersions { v0: true, v1: true };
    })
    .await;
    let receiver = Receiver::start().await;
    let wired = app
        .wire_with(&receiver.url("/hook"), |sub| {
            sub["target"]["headers"] = json!({ "x-custom": "1" })
        })
        .await;

    app.ingest(&wired.application_id).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    let parts = verify(&request, "x-hook0-signature", &wired.secret);
    assert_eq!(keys(&parts), ["t", "v0", "h", "v1"]);
    assert_eq!(
        part(&parts, "h"),
        "content-type x-custom x-event-id x-event-type"
    );
}

#[tokio::test]
async fn v0_alone_covers_the_body_only() {
    let app = spawn_app_with(|cfg| {
        cfg.worker.signature_versions = hook0_core::signature::SignatureVersions {
            v0: true,
            v1: false,
        };
    })
    .await;
    let receiver = Receiver::start().await;
    let wired = app.wire(&receiver.url("/hook")).await;

    app.ingest(&wired.application_id).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    let parts = verify(&request, "x-hook0-signature", &wired.secret);
    assert_eq!(keys(&parts), ["t", "v0"]);
}

#[tokio::test]
async fn the_signature_header_name_can_be_changed() {
    let app =
        spawn_app_with(|cfg| cfg.worker.signature_header_name = "X-Webhook-Signature".into()).await;
    let receiver = Receiver::start().await;
    let wired = app.wire(&receiver.url("/hook")).await;

    app.ingest(&wired.application_id).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    assert!(request.header("x-hook0-signature").is_none());
    let parts = verify(&request, "x-webhook-signature", &wired.secret);
    assert_eq!(part(&parts, "h"), "content-type x-event-id x-event-type");
}

#[tokio::test]
async fn a_base64_payload_is_delivered_as_raw_bytes() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let wired = app.wire(&receiver.url("/hook")).await;
    let raw: Vec<u8> = (0..=255).collect();
    let mut body = app.event_body(&wired.application_id);
    body["payload_content_type"] = json!("application/octet-stream+base64");
    body["payload"] = json!(BASE64.encode(&raw));

    app.ingest_with(&body).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    assert_eq!(request.body, raw);
    assert_eq!(
        request.header("content-type"),
        Some("application/octet-stream+base64")
    );
    verify(&request, "x-hook0-signature", &wired.secret);
}

#[tokio::test]
async fn the_target_method_is_used_and_text_is_delivered_as_is() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let wired = app
        .wire_with(&receiver.url("/put-here"), |sub| {
            sub["target"]["method"] = json!("PUT")
        })
        .await;
    let mut body = app.event_body(&wired.application_id);
    body["payload_content_type"] = json!("text/plain");
    body["payload"] = json!("invoice in_42 paid ✓");

    app.ingest_with(&body).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    assert_eq!(request.method, "PUT");
    assert_eq!(request.path, "/put-here");
    assert_eq!(request.body, "invoice in_42 paid ✓".as_bytes());
    assert_eq!(request.header("content-type"), Some("text/plain"));
    verify(&request, "x-hook0-signature", &wired.secret);
}

#[tokio::test]
async fn worker_headers_win_over_custom_headers_of_the_same_name() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let wired = app
        .wire_with(&receiver.url("/hook"), |sub| {
            sub["target"]["headers"] =
                json!({ "X-Event-Type": "forged", "Content-Type": "text/html" });
        })
        .await;

    app.ingest(&wired.application_id).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    assert_eq!(request.header("x-event-type"), Some(EVENT_TYPE));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.headers.get_all("x-event-type").iter().count(), 1);
    verify(&request, "x-hook0-signature", &wired.secret);
}

#[tokio::test]
async fn delivery_starts_right_after_ingest() {
    // A worker that would only poll could not be fast: ingest wakes it.
    let app = spawn_app_with(|cfg| cfg.worker.poll_interval = Duration::from_secs(30)).await;
    let receiver = Receiver::start().await;
    let wired = app.wire(&receiver.url("/hook")).await;
    // Let the worker go idle first, so that only a wake-up (not a poll) can be fast.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    app.ingest(&wired.application_id).await;
    let request = receiver.wait_for_requests(1, WAIT).await.remove(0);

    let latency = request.at - started;
    assert!(
        latency < Duration::from_secs(1),
        "delivered {latency:?} after ingest"
    );
}

#[tokio::test]
async fn a_delivery_is_recorded_as_successful() {
    let app = spawn_app().await;
    let receiver = Receiver::scripted(vec![Reply::status(204)]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter().all(finished)
        })
        .await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status"]["type"], "successful");
    assert_eq!(attempts[0]["http_response_status"], 204);
    assert_eq!(receiver.requests().len(), 1, "delivered exactly once");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.max_retries = 0).await;
    let receiver =
        Receiver::scripted(vec![Reply::status(302).header("location", "/elsewhere")]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter().all(finished)
        })
        .await;
    assert_eq!(attempts.len(), 1, "no retry once max_retries is reached");
    assert_eq!(attempts[0]["status"]["type"], "failed");
    assert_eq!(attempts[0]["http_response_status"], 302);
    let response = app
        .response(
            &wired.application_id,
            attempts[0]["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(response["response_error_name"], "E_HTTP");
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hook"]);
}

#[tokio::test]
async fn an_unreachable_target_is_a_connection_error() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.max_retries = 0).await;
    // Bind then drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wired = app.wire(&format!("http://127.0.0.1:{port}/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter().all(finished)
        })
        .await;
    assert!(attempts[0]["http_response_status"].is_null());
    let response = app
        .response(
            &wired.application_id,
            attempts[0]["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(response["response_error_name"], "E_CONNECTION");
    assert!(response["http_code"].is_null());
    assert!(
        response["body"].as_str().is_some_and(|b| !b.is_empty()),
        "the error message is stored: {response}"
    );
}

#[tokio::test]
async fn a_slow_target_times_out() {
    let app = spawn_app_with(|cfg| {
        cfg.worker.timeout = Duration::from_millis(500);
        cfg.worker.retry.max_retries = 0;
    })
    .await;
    let receiver = Receiver::scripted(vec![Reply::status(200).delay(Duration::from_secs(3))]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter().all(finished)
        })
        .await;
    assert_eq!(attempts[0]["status"]["type"], "failed");
    let response = app
        .response(
            &wired.application_id,
            attempts[0]["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(response["response_error_name"], "E_TIMEOUT");
    assert!(response["elapsed_time_ms"].as_i64().unwrap() >= 500);
}

#[tokio::test]
async fn response_bodies_are_stored_up_to_the_cap() {
    let app = spawn_app_with(|cfg| cfg.worker.max_response_body_bytes = 1024).await;
    let receiver = Receiver::scripted(vec![Reply::status(200).body("y".repeat(5000))]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter().all(finished)
        })
        .await;
    let response = app
        .response(
            &wired.application_id,
            attempts[0]["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(response["body"], "y".repeat(1024).as_str());
}

#[tokio::test]
async fn a_binary_response_body_reads_back_in_base64() {
    let app = spawn_app().await;
    let binary = vec![0xff, 0xfe, 0x00, 0x80];
    let receiver = Receiver::scripted(vec![Reply::status(200).body(binary.clone())]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter().all(finished)
        })
        .await;
    let response = app
        .response(
            &wired.application_id,
            attempts[0]["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(
        BASE64.decode(response["body"].as_str().unwrap()).unwrap(),
        binary
    );
}

#[tokio::test]
async fn concurrent_events_are_each_delivered_once() {
    let app = spawn_app_with(|cfg| cfg.worker.concurrency = 8).await;
    let receiver =
        Receiver::scripted_then(vec![], Reply::status(200).delay(Duration::from_millis(20))).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let ingested =
        futures::future::join_all((0..60).map(|_| app.ingest(&wired.application_id))).await;

    let requests = receiver
        .wait_for_requests(60, Duration::from_secs(20))
        .await;
    let mut delivered: Vec<String> = requests
        .iter()
        .map(|r| r.header("x-event-id").unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = ingested
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected);
    for request in &requests {
        verify(request, "x-hook0-signature", &wired.secret);
    }
    let attempts = wait_for(
        || async {
            let attempts = app.attempts(&wired.application_id, "").await;
            attempts
                .iter()
                .all(|a| a["status"]["type"] == "successful")
                .then_some(attempts)
        },
        WAIT,
    )
    .await;
    assert_eq!(attempts.len(), 50, "first page");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests().len(), 60, "nothing delivered twice");
}
