//! The worker end to end: a real SQLite store, a real loopback receiver, the real dispatch loop.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[tokio::test]
async fn delivery_arrives_signed_with_the_expected_headers() {
    let receiver = Receiver::start().await;
    let world = World::new().await;
    let sub = world
        .subscribe(&receiver.url("/"), &[("X-Custom", "abc")])
        .await;
    let (shutdown, worker) = world.spawn_worker(test_config());
    let payload = r#"{"invoice":42}"#;
    let event_id = world.ingest(payload).await;

    let seen = receiver.wait_for_requests(1, PATIENCE).await;
    let attempts = world.wait_finished(1).await;
    stop(shutdown, worker).await;

    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.body, payload.as_bytes());
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("x-event-id"), event_id.to_string());
    assert_eq!(header("x-event-type"), EVENT_TYPE);
    assert_eq!(header("x-custom"), "abc");
    assert!(header("user-agent").starts_with("hook0-output-worker/"));

    // Check v1 independently of the signing module.
    let signature = header("x-hook0-signature");
    let parts: Vec<(&str, &str)> = signature
        .split(',')
        .map(|p| p.split_once('=').unwrap())
        .collect();
    let part = |key: &str| parts.iter().find(|(k, _)| *k == key).unwrap().1;
    assert_eq!(
        parts.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["t", "h", "v1"]
    );
    let t: i64 = part("t").parse().unwrap();
    assert!((Utc::now().timestamp() - t).abs() < 60);
    let names = part("h");
    assert_eq!(names, "content-type x-custom x-event-id x-event-type");
    let values: Vec<&str> = names.split(' ').map(header).collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(sub.secret.to_string().as_bytes()).unwrap();
    mac.update(format!("{t}.{names}.{}.", values.join(".")).as_bytes());
    mac.update(&request.body);
    assert_eq!(part("v1"), hex::encode(mac.finalize().into_bytes()));

    let attempt = &attempts[0];
    assert!(attempt.succeeded_at.is_some());
    assert_eq!(attempt.retry_count, 0);
    let response = world.response(attempt).await;
    assert_eq!(response.error_name, None);
    assert_eq!(response.http_code, Some(200));
}

#[tokio::test]
async fn failures_are_retried_until_success() {
    let receiver =
        Receiver::answering(|r| Reply::status(if r.index < 2 { 500 } else { 200 })).await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let (shutdown, worker) = world.spawn_worker(test_config());
    world.ingest("{}").await;

    let attempts = world.wait_finished(3).await;
    stop(shutdown, worker).await;

    assert_eq!(receiver.requests().len(), 3);
    let counts: Vec<i32> = attempts.iter().map(|a| a.retry_count).collect();
    assert_eq!(counts, [0, 1, 2]);
    for failed in &attempts[..2] {
        assert!(failed.failed_at.is_some() && failed.succeeded_at.is_none());
        let response = world.response(failed).await;
        assert_eq!(response.error_name.as_deref(), Some("E_HTTP"));
        assert_eq!(response.http_code, Some(500));
    }
    assert!(attempts[2].succeeded_at.is_some());
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let receiver = Receiver::answering(|r| match r.path.as_str() {
        "/" => Reply::status(302).header("location", "/landed"),
        _ => Reply::status(200),
    })
    .await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let mut config = test_config();
    config.retry.max_retries = 0;
    let (shutdown, worker) = world.spawn_worker(config);
    world.ingest("{}").await;

    let attempts = world.wait_finished(1).await;
    stop(shutdown, worker).await;

    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/"]);
    assert!(attempts[0].failed_at.is_some());
    let response = world.response(&attempts[0]).await;
    assert_eq!(response.error_name.as_deref(), Some("E_HTTP"));
    assert_eq!(response.http_code, Some(302));
    assert_eq!(response.headers.unwrap()["location"], "/landed");
}

#[tokio::test]
async fn the_stored_response_body_is_capped() {
    let receiver = Receiver::answering(|_| Reply::status(200).body(vec![b'x'; 300_000])).await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let mut config = test_config();
    config.max_response_body_bytes = 1000;
    let (shutdown, worker) = world.spawn_worker(config);
    world.ingest("{}").await;

    let attempts = world.wait_finished(1).await;
    stop(shutdown, worker).await;

    assert!(attempts[0].succeeded_at.is_some());
    let body = world.response(&attempts[0]).await.body.unwrap();
    assert_eq!(body, vec![b'x'; 1000]);
}

#[tokio::test]
async fn the_stored_response_headers_are_capped() {
    static NAMES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        (0..40)
            .map(|i| &*Box::leak(format!("x-big-{i}").into_boxed_str()))
            .collect()
    });
    let receiver = Receiver::answering(|_| {
        NAMES.iter().fold(Reply::status(200), |reply, name| {
            reply.header(name, &"v".repeat(6_000))
        })
    })
    .await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let (shutdown, worker) = world.spawn_worker(test_config());
    world.ingest("{}").await;
    let attempts = world.wait_finished(1).await;
    stop(shutdown, worker).await;

    let headers = world.response(&attempts[0]).await.headers.unwrap();
    let stored: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(stored <= 8 * 1024 + 64, "{stored} bytes of headers stored");
    let left_out: usize = headers["x-hook0-headers-truncated"].parse().unwrap();
    assert!(left_out >= 38, "{left_out}");
}

#[tokio::test]
async fn the_ssrf_guard_refuses_loopback_targets() {
    let receiver = Receiver::start().await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    world
        .subscribe(&format!("http://localhost:{}/", receiver.addr.port()), &[])
        .await;
    let mut config = test_config();
    config.disable_target_ip_check = false;
    config.retry.max_retries = 0;
    let (shutdown, worker) = world.spawn_worker(config);
    world.ingest("{}").await;

    let attempts = world.wait_finished(2).await;
    stop(shutdown, worker).await;

    for attempt in &attempts {
        assert!(attempt.failed_at.is_some());
        let response = world.response(attempt).await;
        assert_eq!(response.error_name.as_deref(), Some("E_INVALID_TARGET"));
        assert_eq!(response.http_code, None);
    }
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn shutdown_when_idle_returns_promptly() {
    let world = World::new().await;
    let (shutdown, worker) = world.spawn_worker(test_config());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    stop(shutdown, worker).await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn shutdown_lets_in_flight_deliveries_finish_and_records_them() {
    let receiver =
        Receiver::answering(|_| Reply::status(200).delay(Duration::from_millis(400))).await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let (shutdown, worker) = world.spawn_worker(test_config());
    world.ingest("{}").await;

    receiver.wait_for_requests(1, PATIENCE).await;
    stop(shutdown, worker).await;

    // Recorded before `run` returned: no waiting needed.
    let attempts = world.attempts().await;
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0].succeeded_at.is_some());
}

#[tokio::test]
async fn shutdown_releases_deliveries_cut_short() {
    let receiver = Receiver::answering(|_| Reply::status(200).delay(Duration::from_secs(60))).await;
    let world = World::new().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let mut config = test_config();
    config.shutdown_grace = Duration::from_millis(200);
    let (shutdown, worker) = world.spawn_worker(config);
    world.ingest("{}").await;

    receiver.wait_for_requests(1, PATIENCE).await;
    let started = std::time::Instant::now();
    stop(shutdown, worker).await;
    assert!(started.elapsed() < Duration::from_secs(2));

    let attempts = world.attempts().await;
    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert!(attempt.picked_at.is_none(), "released, not in progress");
    assert!(attempt.succeeded_at.is_none() && attempt.failed_at.is_none());
    let due = world.store.next_due_at().await.unwrap().unwrap();
    assert!(due <= Utc::now(), "due again right away");
}

#[tokio::test]
async fn a_running_worker_sends_heartbeats_to_the_monitor_and_stops_with_it() {
    let monitor = Receiver::start().await;
    let world = World::new().await;
    let config = hook0_worker::WorkerConfig {
        name: "beating-worker".into(),
        heartbeat: Some(hook0_worker::Heartbeat {
            url: monitor.url("/").parse().unwrap(),
            min_period: Duration::from_millis(300),
        }),
        ..test_config()
    };
    let (shutdown, worker) = world.spawn_worker(config);
    let beats = monitor.wait_for_requests(2, PATIENCE).await;
    stop(shutdown, worker).await;

    for beat in &beats {
        assert_eq!(beat.method, "POST");
        let body: serde_json::Value = serde_json::from_slice(&beat.body).unwrap();
        assert_eq!(body["worker_name"], "beating-worker");
        assert_eq!(body["worker_version"], env!("CARGO_PKG_VERSION"));
    }
    // Stopped: no more beats.
    let after_stop = monitor.requests().len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(monitor.requests().len(), after_stop);
}

#[tokio::test]
async fn framing_headers_stored_on_a_subscription_are_never_sent() {
    let receiver = Receiver::start().await;
    let world = World::new().await;
    // Saved before the API refused them: the delivery must still carry its body.
    world
        .subscribe(
            &receiver.url("/"),
            &[
                ("Content-Length", "0"),
                ("Transfer-Encoding", "chunked"),
                ("X-Kept", "yes"),
            ],
        )
        .await;
    let (shutdown, worker) = world.spawn_worker(test_config());
    let payload = r#"{"invoice":42}"#;
    world.ingest(payload).await;
    let seen = receiver.wait_for_requests(1, PATIENCE).await;
    world.wait_finished(1).await;
    stop(shutdown, worker).await;

    assert_eq!(seen[0].body, payload.as_bytes());
    assert_eq!(seen[0].headers["x-kept"], "yes");
    assert_eq!(
        seen[0].headers["content-length"],
        payload.len().to_string().as_str()
    );
    assert!(seen[0].headers.get("transfer-encoding").is_none());
}

/// Every wake-up lost: the event is written through another handle on the database (as by
/// another process), so nothing wakes the idle worker; its poll interval must bound the wait.
#[tokio::test]
async fn an_idle_worker_finds_due_work_within_its_poll_interval_without_a_wake_up() {
    let world = World::new().await;
    let receiver = Receiver::start().await;
    world.subscribe(&receiver.url("/"), &[]).await;
    let mut config = test_config();
    config.poll_interval = Duration::from_millis(300);
    let (shutdown, worker) = world.spawn_worker(config);
    // Idle first: an empty claim, then the wait.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // With a poll interval of 30 s instead, this fails: no wake-up reaches the worker.
    world.other_process().await.ingest("{}").await;
    receiver.wait_for_requests(1, Duration::from_secs(5)).await;
    stop(shutdown, worker).await;
}
