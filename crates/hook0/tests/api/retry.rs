//! Retries: each one a new attempt row with `retry_count + 1`, due after the schedule's delay
//! (test schedule 300 ms, 600 ms, 900 ms, no jitter); `Retry-After` honoured on 429 only;
//! no retry after `max_retries` or once the subscription is disabled.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

fn millis_between(later: &Value, earlier: &Value) -> i64 {
    (time(later) - time(earlier)).num_milliseconds()
}

#[tokio::test]
async fn a_failing_target_is_retried_on_the_schedule_until_it_succeeds() {
    let app = spawn_app().await;
    let receiver = Receiver::scripted(vec![
        Reply::status(500),
        Reply::status(502),
        Reply::status(404),
    ])
    .await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter()
                .any(|attempt| attempt["status"]["type"] == "successful")
        })
        .await;
    assert_eq!(attempts.len(), 4);
    let retry_counts: Vec<i64> = attempts
        .iter()
        .map(|a| a["retry_count"].as_i64().unwrap())
        .collect();
    assert_eq!(retry_counts, [0, 1, 2, 3]);
    let statuses: Vec<(&str, i64)> = attempts
        .iter()
        .map(|a| {
            (
                a["status"]["type"].as_str().unwrap(),
                a["http_response_status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("failed", 500),
            ("failed", 502),
            ("failed", 404),
            ("successful", 200)
        ]
    );
    assert!(
        attempts[0]["delay_until"].is_null(),
        "the first attempt is due at once"
    );

    let schedule = test_retry_policy().schedule;
    for (n, expected) in schedule.iter().enumerate() {
        let (failed, retry) = (&attempts[n], &attempts[n + 1]);
        let spacing = millis_between(&retry["delay_until"], &failed["failed_at"]);
        let expected = expected.as_millis() as i64;
        assert!(
            (expected..expected + 50).contains(&spacing),
            "retry {}: due {spacing} ms after the failure, expected {expected}",
            n + 1
        );
        assert!(
            time(&retry["created_at"]) >= time(&failed["failed_at"]),
            "the retry row is made when the attempt fails"
        );
        let done_at = if retry["succeeded_at"].is_null() {
            &retry["failed_at"]
        } else {
            &retry["succeeded_at"]
        };
        assert!(
            time(done_at) >= time(&retry["delay_until"]),
            "retry {} was not sent before it was due",
            n + 1
        );
    }

    // The receiver saw the same event four times, spaced by at least the schedule.
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests
        .iter()
        .all(|r| r.header("x-event-id") == Some(event_id.as_str())));
    for (n, expected) in schedule.iter().enumerate() {
        let gap = requests[n + 1].at - requests[n].at;
        assert!(
            gap >= *expected,
            "delivery {} came {gap:?} after the previous one, before {expected:?}",
            n + 2
        );
    }
}

#[tokio::test]
async fn retry_after_on_429_delays_the_next_attempt() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.schedule = vec![Duration::from_secs(1)]).await;
    let receiver = Receiver::scripted(vec![Reply::status(429).header("Retry-After", "2")]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter()
                .any(|attempt| attempt["status"]["type"] == "successful")
        })
        .await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["http_response_status"], 429);
    assert_eq!(
        attempts[1]["retry_count"], 1,
        "Retry-After does not change the retry count"
    );
    let spacing = millis_between(&attempts[1]["delay_until"], &attempts[0]["failed_at"]);
    assert!(
        spacing >= 2000,
        "due {spacing} ms after the 429, Retry-After asked for 2 s"
    );
    let requests = receiver.requests();
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(2));
}

#[tokio::test]
async fn retry_after_is_ignored_unless_the_status_is_429() {
    let app = spawn_app().await;
    let receiver = Receiver::scripted(vec![Reply::status(503).header("Retry-After", "30")]).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.iter()
                .any(|attempt| attempt["status"]["type"] == "successful")
        })
        .await;
    let spacing = millis_between(&attempts[1]["delay_until"], &attempts[0]["failed_at"]);
    assert!(
        (300..350).contains(&spacing),
        "due {spacing} ms after the 503: the schedule's 300 ms"
    );
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.max_retries = 2).await;
    let receiver = Receiver::scripted_then(vec![], Reply::status(500)).await;
    let wired = app.wire(&receiver.url("/hook")).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| {
            a.len() == 3 && a.iter().all(finished)
        })
        .await;
    assert!(attempts.iter().all(|a| a["status"]["type"] == "failed"));
    assert_eq!(attempts[2]["retry_count"], 2);
    // Nothing else is scheduled: the last failure is final.
    assert!(app.store.next_due_at().await.unwrap().is_none());
    assert_eq!(receiver.requests().len(), 3);
}

#[tokio::test]
async fn disabling_the_subscription_cancels_its_waiting_retry() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.schedule = vec![Duration::from_secs(60)]).await;
    let receiver = Receiver::scripted_then(vec![], Reply::status(500)).await;
    let wired = app.wire(&receiver.url("/hook")).await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts = app
        .wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| a.len() == 2)
        .await;
    assert_eq!(attempts[1]["status"]["type"], "waiting");

    let mut body = wired.subscription.clone();
    body["is_enabled"] = json!(false);
    expect_json(
        app.put(&format!("/subscriptions/{}", wired.subscription_id), &body)
            .await,
        200,
    )
    .await;

    let attempts = app.event_attempts(&wired.application_id, &event_id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1]["status"]["type"], "failed");
    assert!(attempts[1]["response_id"].is_null(), "never sent");
    assert!(app.store.next_due_at().await.unwrap().is_none());
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn a_header_that_cannot_be_signed_is_never_retried() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    // Accepted by the API (a valid header value), but not visible ASCII, so it cannot be signed.
    let wired = app
        .wire_with(&receiver.url("/hook"), |sub| {
            sub["target"]["headers"] = json!({ "x-city": "Zürich" })
        })
        .await;

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
    assert_eq!(response["response_error_name"], "E_INVALID_HEADER");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.event_attempts(&wired.application_id, &event_id)
            .await
            .len(),
        1,
        "no retry"
    );
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn a_retry_goes_to_the_target_as_it_is_now() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.schedule = vec![Duration::from_secs(1)]).await;
    let old = Receiver::scripted_then(vec![], Reply::status(500)).await;
    let new = Receiver::start().await;
    let wired = app.wire(&old.url("/hook")).await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_attempts(&wired.application_id, &event_id, WAIT, |a| a.len() == 2)
        .await;

    let mut body = wired.subscription.clone();
    body["target"]["url"] = json!(new.url("/moved"));
    expect_json(
        app.put(&format!("/subscriptions/{}", wired.subscription_id), &body)
            .await,
        200,
    )
    .await;

    let request = new.wait_for_requests(1, WAIT).await.remove(0);
    assert_eq!(request.path, "/moved");
    assert_eq!(request.header("x-event-id"), Some(event_id.as_str()));
    assert_eq!(old.requests().len(), 1);
}
