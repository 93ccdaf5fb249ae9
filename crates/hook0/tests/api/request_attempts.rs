//! `/request_attempts` (filters, 50 per page, `Link` cursor pagination, the `status` object)
//! and `/responses/{id}`.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

const ATTEMPT: [&str; 13] = [
    "request_attempt_id",
    "event_id",
    "event",
    "subscription",
    "created_at",
    "picked_at",
    "failed_at",
    "succeeded_at",
    "delay_until",
    "response_id",
    "retry_count",
    "http_response_status",
    "status",
];

/// The `<url>` of a `Link: <url>; rel="next"` header.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap();
    assert!(link.ends_with("; rel=\"next\""), "Link header: {link}");
    Some(
        link.trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_pending_attempt_has_every_field_and_a_pending_status() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app.attempts(&wired.application_id, "").await;

    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert_fields(attempt, &ATTEMPT);
    assert_uuid(&attempt["request_attempt_id"], 7);
    assert_eq!(attempt["event_id"], event_id.as_str());
    assert_eq!(
        attempt["event"],
        json!({ "event_id": event_id, "event_type_name": EVENT_TYPE })
    );
    assert_eq!(
        attempt["subscription"],
        json!({ "subscription_id": wired.subscription_id, "description": "Invoices to the accounting system" })
    );
    assert_eq!(attempt["retry_count"], 0);
    for empty in [
        "picked_at",
        "failed_at",
        "succeeded_at",
        "delay_until",
        "response_id",
        "http_response_status",
    ] {
        assert!(
            attempt[empty].is_null(),
            "{empty} of a pending attempt: {attempt}"
        );
    }
    assert_eq!(
        attempt["status"],
        json!({ "type": "pending", "since": attempt["created_at"] })
    );

    let path = format!(
        "/request_attempts/{}?application_id={}",
        attempt["request_attempt_id"].as_str().unwrap(),
        wired.application_id
    );
    assert_eq!(&expect_json(app.get(&path).await, 200).await, attempt);
}

#[tokio::test]
async fn a_delivered_attempt_shows_its_success_and_its_response() {
    let app = spawn_app().await;
    let receiver = Receiver::scripted(vec![Reply::status(200).header("x-receiver", "yes")]).await;
    let wired = app.wire(&receiver.url("/hook")).await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(
            &wired.application_id,
            &event_id,
            Duration::from_secs(10),
            |a| a.iter().any(finished),
        )
        .await;

    let attempt = &attempts[0];
    assert_fields(attempt, &ATTEMPT);
    assert_eq!(attempt["http_response_status"], 200);
    assert!(attempt["failed_at"].is_null());
    assert!(!attempt["picked_at"].is_null());
    let status = &attempt["status"];
    assert_fields(status, &["type", "at", "full_processing_ms"]);
    assert_eq!(status["type"], "successful");
    assert_eq!(status["at"], attempt["succeeded_at"]);
    assert!(status["full_processing_ms"].as_i64().unwrap() >= 0);

    let response = app
        .response(
            &wired.application_id,
            attempt["response_id"].as_str().unwrap(),
        )
        .await;
    assert_fields(
        &response,
        &[
            "response_id",
            "response_error_name",
            "http_code",
            "headers",
            "body",
            "elapsed_time_ms",
        ],
    );
    assert_uuid(&response["response_id"], 7);
    assert!(response["response_error_name"].is_null());
    assert_eq!(response["http_code"], 200);
    assert_eq!(response["headers"]["x-receiver"], "yes");
    assert_eq!(response["body"], "answer 200");
    assert!(response["elapsed_time_ms"].as_i64().unwrap() >= 0);
}

#[tokio::test]
async fn a_failed_attempt_waits_for_its_retry() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.schedule = vec![Duration::from_secs(60)]).await;
    let receiver = Receiver::scripted_then(vec![], Reply::status(503)).await;
    let wired = app.wire(&receiver.url("/hook")).await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = app
        .wait_for_attempts(
            &wired.application_id,
            &event_id,
            Duration::from_secs(10),
            |a| a.len() == 2,
        )
        .await;

    let (failed, retry) = (&attempts[0], &attempts[1]);
    assert_eq!(failed["status"]["type"], "failed");
    assert_eq!(failed["status"]["at"], failed["failed_at"]);
    assert_eq!(failed["http_response_status"], 503);
    let response = app
        .response(
            &wired.application_id,
            failed["response_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(response["response_error_name"], "E_HTTP");
    assert_eq!(response["http_code"], 503);

    assert_eq!(retry["retry_count"], 1);
    assert_eq!(
        retry["status"],
        json!({ "type": "waiting", "since": retry["created_at"], "until": retry["delay_until"] })
    );
}

#[tokio::test]
async fn attempts_are_paginated_50_at_a_time_through_the_link_header() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    for path in ["/2", "/3"] {
        app.create_subscription(&wired.application_id, &format!("http://127.0.0.1:9{path}"))
            .await;
    }
    // 40 events × 3 subscriptions = 120 attempts.
    futures::future::join_all((0..40).map(|_| app.ingest(&wired.application_id))).await;

    let mut url = app.url(&format!(
        "/request_attempts?application_id={}",
        wired.application_id
    ));
    let mut pages = Vec::new();
    let mut seen = HashSet::new();
    let mut previous: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        let response = app
            .client
            .get(&url)
            .bearer_auth(app.master_key)
            .send()
            .await
            .unwrap();
        let link = next_link(&response);
        let page = expect_json(response, 200).await.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for attempt in &page {
            assert!(
                seen.insert(attempt["request_attempt_id"].as_str().unwrap().to_owned()),
                "no attempt twice"
            );
            let created_at = time(&attempt["created_at"]);
            assert!(previous.is_none_or(|p| created_at <= p), "newest first");
            previous = Some(created_at);
        }
        pages.push(page.len());
        match link {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("http://{}/api/v1/request_attempts?", app.addr)),
                    "{next}"
                );
                assert!(
                    next.contains(&format!("application_id={}", wired.application_id)),
                    "{next}"
                );
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, [50, 50, 20]);
}

#[tokio::test]
async fn attempts_can_be_filtered() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    app.create_event_type(&wired.application_id, "billing.invoice.voided")
        .await;
    let mut other = app.subscription_body(&wired.application_id, "http://127.0.0.1:9/other");
    other["event_types"] = json!([EVENT_TYPE, "billing.invoice.voided"]);
    let other = app.create_subscription_with(&other).await;
    let other_id = other["subscription_id"].as_str().unwrap();

    let paid = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut voided_body = app.event_body(&wired.application_id);
    voided_body["event_type"] = json!("billing.invoice.voided");
    let voided = app.ingest_with(&voided_body).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let all = app.attempts(&wired.application_id, "").await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        app.attempts(&wired.application_id, &format!("event_id={paid}"))
            .await
            .len(),
        2
    );
    assert_eq!(
        app.attempts(&wired.application_id, &format!("event_id={voided}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        app.attempts(
            &wired.application_id,
            &format!("subscription_id={other_id}")
        )
        .await
        .len(),
        2
    );
    let by_type = app
        .attempts(
            &wired.application_id,
            "event.event_type_names=billing.invoice.voided",
        )
        .await;
    assert_eq!(by_type.len(), 1);
    assert_eq!(by_type[0]["event_id"], voided.as_str());
    let both = app
        .attempts(
            &wired.application_id,
            &format!("event.event_type_names={EVENT_TYPE},billing.invoice.voided"),
        )
        .await;
    assert_eq!(both.len(), 3);

    let newest = time(&all[0]["created_at"]);
    let since = (newest + chrono::Duration::microseconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert!(app
        .attempts(&wired.application_id, &format!("min_created_at={since}"))
        .await
        .is_empty());
    let until = newest.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(
        app.attempts(&wired.application_id, &format!("max_created_at={until}"))
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn bad_query_parameters_are_problems() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    let base = format!("/request_attempts?application_id={}", wired.application_id);

    expect_problem(app.get("/request_attempts").await, 422, "Validation").await;
    expect_problem(
        app.get(&format!("{base}&event_id=nope")).await,
        422,
        "Validation",
    )
    .await;
    expect_problem(
        app.get(&format!("{base}&min_created_at=yesterday")).await,
        422,
        "Validation",
    )
    .await;
    let problem = expect_problem(
        app.get(&format!("{base}&pagination_cursor=garbage")).await,
        422,
        "Validation",
    )
    .await;
    assert!(
        problem["validation"]["pagination_cursor"].is_array(),
        "{problem}"
    );
}

#[tokio::test]
async fn get_of_an_unknown_attempt_or_response_is_not_found() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    let app_id = &wired.application_id;

    expect_problem(
        app.get(&format!(
            "/request_attempts/{}?application_id={app_id}",
            Uuid::new_v4()
        ))
        .await,
        404,
        "NotFound",
    )
    .await;
    expect_problem(
        app.get(&format!("/request_attempts/xyz?application_id={app_id}"))
            .await,
        404,
        "NotFound",
    )
    .await;
    expect_problem(
        app.get(&format!(
            "/responses/{}?application_id={app_id}",
            Uuid::new_v4()
        ))
        .await,
        404,
        "NotFound",
    )
    .await;
    expect_problem(
        app.get(&format!("/responses/xyz?application_id={app_id}"))
            .await,
        404,
        "NotFound",
    )
    .await;

    // An attempt read through another application does not exist there.
    app.ingest(app_id).await;
    let attempt_id = app.attempts(app_id, "").await[0]["request_attempt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.create_org_app().await;
    let foreign = app
        .get(&format!(
            "/request_attempts/{attempt_id}?application_id={}",
            other.application_id
        ))
        .await;
    expect_problem(foreign, 404, "NotFound").await;
}

#[tokio::test]
async fn attempts_of_another_application_are_forbidden() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    app.ingest(&wired.application_id).await;
    let attempt_id = app.attempts(&wired.application_id, "").await[0]["request_attempt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.create_org_app().await;
    let as_other = app.with_token(&other.secret);
    let app_id = &wired.application_id;

    expect_problem(
        as_other
            .get(&format!("/request_attempts?application_id={app_id}"))
            .await,
        403,
        "Forbidden",
    )
    .await;
    let get = as_other
        .get(&format!(
            "/request_attempts/{attempt_id}?application_id={app_id}"
        ))
        .await;
    expect_problem(get, 403, "Forbidden").await;
    let response = as_other
        .get(&format!(
            "/responses/{}?application_id={app_id}",
            Uuid::new_v4()
        ))
        .await;
    expect_problem(response, 403, "Forbidden").await;

    let own: Value = expect_json(
        app.with_token(&wired.org.secret)
            .get(&format!("/request_attempts/?application_id={app_id}"))
            .await,
        200,
    )
    .await;
    assert_eq!(own.as_array().unwrap().len(), 1);
}

/// The `status` of each attempt of a listing, by retry count.
fn statuses(attempts: &Value) -> Vec<(i64, String)> {
    let mut found: Vec<(i64, String)> = attempts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["retry_count"].as_i64().unwrap(),
                a["status"]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn attempts_are_filtered_by_status_and_upstream_cli_parameters_are_understood() {
    let app = spawn_app_with(|cfg| cfg.worker.retry.schedule = vec![Duration::from_secs(60)]).await;
    let receiver = Receiver::scripted(vec![Reply::status(500), Reply::status(200)]).await;
    let wired = app.wire(&receiver.url("/hook")).await;
    let failing = app.ingest(&wired.application_id).await;
    let failing = failing["event_id"].as_str().unwrap().to_owned();
    // The first event's first attempt failed and waits for its retry; then a second succeeds.
    app.wait_for_attempts(
        &wired.application_id,
        &failing,
        Duration::from_secs(10),
        |a| a.len() == 2,
    )
    .await;
    let ok = app.ingest(&wired.application_id).await;
    let ok = ok["event_id"].as_str().unwrap().to_owned();
    app.wait_for_attempts(&wired.application_id, &ok, Duration::from_secs(10), |a| {
        a.iter().all(finished)
    })
    .await;

    let base = format!("/request_attempts?application_id={}", wired.application_id);
    let get = |query: &str| {
        let url = format!("{base}&{query}");
        let app = &app;
        async move { expect_json(app.get(&url).await, 200).await }
    };
    assert_eq!(
        statuses(&get("status=failed").await),
        [(0, "failed".into())]
    );
    assert_eq!(
        statuses(&get("status=waiting").await),
        [(1, "waiting".into())]
    );
    assert_eq!(
        statuses(&get("status=successful").await),
        [(0, "successful".into())]
    );
    assert_eq!(statuses(&get("status=pending").await), []);
    assert_eq!(statuses(&get("status=inprogress").await), []);
    assert_eq!(statuses(&get("status=dead_letter").await), []);
    assert_eq!(
        statuses(&get("status=failed,successful").await),
        [(0, "failed".into()), (0, "successful".into())]
    );
    // With the event filter too.
    assert_eq!(
        statuses(&get(&format!("status=successful&event_id={failing}")).await),
        []
    );

    // What upstream's CLI sends: `since`, `until`, `event_type`, and parameters we do not
    // define (`label`, `page`, `per_page`), which are ignored.
    assert_eq!(
        get("since=1h&until=2099-01-01T00:00:00Z")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(get("until=1h").await, json!([]));
    assert_eq!(
        get(&format!(
            "event_type={EVENT_TYPE}&label=tenant=acme&page=1&per_page=20"
        ))
        .await
        .as_array()
        .unwrap()
        .len(),
        3
    );
    assert_eq!(get("event_type=billing.invoice.other").await, json!([]));

    // A state that does not exist, or a malformed instant, is a 422 naming the parameter.
    let problem = expect_problem(
        app.get(&format!("{base}&status=lost")).await,
        422,
        "Validation",
    )
    .await;
    assert!(problem["validation"]["status"].is_array(), "{problem}");
    let problem = expect_problem(
        app.get(&format!("{base}&since=yesterday")).await,
        422,
        "Validation",
    )
    .await;
    assert!(problem["validation"]["since"].is_array(), "{problem}");
}
