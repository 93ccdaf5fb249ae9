//! `POST /event` (ingest, with every validation rule) and `/events` (list, get, replay).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

const EVENT: [&str; 8] = [
    "event_id",
    "event_type_name",
    "payload_content_type",
    "ip",
    "metadata",
    "occurred_at",
    "received_at",
    "labels",
];

/// An app without a worker (attempts stay put) wired to a target nobody listens on.
async fn wired_app() -> (TestApp, Wired) {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    (app, wired)
}

#[tokio::test]
async fn ingest_answers_201_with_a_server_made_uuid_v7() {
    let (app, wired) = wired_app().await;

    let ingested = expect_json(
        app.post("/event", &app.event_body(&wired.application_id))
            .await,
        201,
    )
    .await;

    assert_fields(&ingested, &["application_id", "event_id", "received_at"]);
    assert_eq!(ingested["application_id"], wired.application_id.as_str());
    assert_uuid(&ingested["event_id"], 7);
    let received_at = time(&ingested["received_at"]);
    assert!((chrono::Utc::now() - received_at).num_seconds().abs() < 5);
    assert!(
        ingested["received_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC: {ingested}"
    );
}

#[tokio::test]
async fn ingest_keeps_the_client_event_id_and_refuses_it_twice() {
    let (app, wired) = wired_app().await;
    let event_id = Uuid::new_v4();
    let mut body = app.event_body(&wired.application_id);
    body["event_id"] = json!(event_id);

    let ingested = expect_json(app.post("/event", &body).await, 201).await;
    assert_eq!(ingested["event_id"], event_id.to_string().as_str());

    expect_problem(app.post("/event", &body).await, 409, "EventAlreadyIngested").await;
    let attempts = app
        .event_attempts(&wired.application_id, &event_id.to_string())
        .await;
    assert_eq!(attempts.len(), 1, "the duplicate created no attempt");
}

/// Ids are unique per application: another tenant's id is neither an existence oracle (409) nor
/// taken from its owner.
#[tokio::test]
async fn another_application_may_use_the_same_event_id() {
    let (app, first) = wired_app().await;
    let second = app.wire("http://127.0.0.1:9/hook").await;
    let event_id = Uuid::new_v4();
    for (wired, tenant) in [(&first, "first"), (&second, "second")] {
        let mut body = app.event_body(&wired.application_id);
        body["event_id"] = json!(event_id);
        body["payload"] = json!(format!("{{\"tenant\":\"{tenant}\"}}"));
        let caller = app.with_token(&wired.org.secret);
        expect_json(caller.post("/event", &body).await, 201).await;
    }
    for (wired, tenant) in [(&first, "first"), (&second, "second")] {
        let event = expect_json(
            app.get(&format!(
                "/events/{event_id}?application_id={}",
                wired.application_id
            ))
            .await,
            200,
        )
        .await;
        let payload = BASE64.decode(event["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, format!("{{\"tenant\":\"{tenant}\"}}").into_bytes());
        let attempts = app
            .event_attempts(&wired.application_id, &event_id.to_string())
            .await;
        assert_eq!(attempts.len(), 1, "{tenant}: {attempts:?}");
    }
}

#[tokio::test]
async fn ingest_creates_the_attempts_before_answering() {
    let (app, wired) = wired_app().await;
    let second = app
        .create_subscription(&wired.application_id, "http://127.0.0.1:9/second")
        .await;
    let mut elsewhere =
        app.subscription_body(&wired.application_id, "http://127.0.0.1:9/elsewhere");
    elsewhere["labels"] = json!({ "tenant": "globex" });
    app.create_subscription_with(&elsewhere).await;

    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The very next read sees one attempt per matching subscription.
    let attempts = app
        .attempts(&wired.application_id, &format!("event_id={event_id}"))
        .await;
    assert_eq!(attempts.len(), 2);
    let mut subscriptions: Vec<&str> = attempts
        .iter()
        .map(|a| a["subscription"]["subscription_id"].as_str().unwrap())
        .collect();
    subscriptions.sort();
    let mut expected = vec![
        wired.subscription_id.as_str(),
        second["subscription_id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(subscriptions, expected);
    for attempt in &attempts {
        assert_eq!(attempt["retry_count"], 0);
        assert_eq!(attempt["event_id"], event_id.as_str());
    }
}

#[tokio::test]
async fn events_reach_only_subscriptions_whose_labels_they_carry() {
    let (app, wired) = wired_app().await;
    app.create_event_type(&wired.application_id, "billing.invoice.voided")
        .await;

    let mut more_labels = app.event_body(&wired.application_id);
    more_labels["labels"] = json!({ "tenant": "acme", "region": "eu" });
    let superset = app.ingest_with(&more_labels).await;
    assert_eq!(
        app.event_attempts(
            &wired.application_id,
            superset["event_id"].as_str().unwrap()
        )
        .await
        .len(),
        1
    );

    let mut other_tenant = app.event_body(&wired.application_id);
    other_tenant["labels"] = json!({ "tenant": "globex" });
    let unmatched = app.ingest_with(&other_tenant).await;
    assert!(app
        .event_attempts(
            &wired.application_id,
            unmatched["event_id"].as_str().unwrap()
        )
        .await
        .is_empty());

    let mut other_type = app.event_body(&wired.application_id);
    other_type["event_type"] = json!("billing.invoice.voided");
    let unsubscribed = app.ingest_with(&other_type).await;
    assert!(app
        .event_attempts(
            &wired.application_id,
            unsubscribed["event_id"].as_str().unwrap()
        )
        .await
        .is_empty());
}

#[tokio::test]
async fn ingest_refuses_an_unknown_event_type() {
    let (app, wired) = wired_app().await;
    let mut body = app.event_body(&wired.application_id);
    body["event_type"] = json!("billing.invoice.unknown");

    expect_problem(
        app.post("/event", &body).await,
        400,
        "EventTypeDoesNotExist",
    )
    .await;
}

#[tokio::test]
async fn ingest_checks_the_payload_against_its_content_type() {
    let (app, wired) = wired_app().await;
    let with = |content_type: &str, payload: &str| {
        let mut body = app.event_body(&wired.application_id);
        body["payload_content_type"] = json!(content_type);
        body["payload"] = json!(payload);
        body
    };

    let unknown = app
        .post("/event", &with("application/xml", "<invoice/>"))
        .await;
    expect_problem(unknown, 400, "EventInvalidPayloadContentType").await;
    let bad_json = app
        .post("/event", &with("application/json", "{\"amount\": "))
        .await;
    expect_problem(bad_json, 400, "EventInvalidJsonPayload").await;
    let bad_base64 = app
        .post(
            "/event",
            &with("application/octet-stream+base64", "not base64!"),
        )
        .await;
    expect_problem(bad_base64, 400, "EventInvalidBase64Payload").await;

    expect_json(
        app.post("/event", &with("text/plain", "{\"amount\": "))
            .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn ingest_validates_labels_metadata_and_event_type() {
    let (app, wired) = wired_app().await;
    let with = |field: &str, value: Value| {
        let mut body = app.event_body(&wired.application_id);
        body[field] = value;
        body
    };
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();

    let cases = [
        (with("labels", json!({})), "labels"),
        (with("labels", Value::Object(eleven)), "labels"),
        (with("labels", json!({ "tenant": "" })), "labels"),
        (with("metadata", json!({ "k": "v".repeat(51) })), "metadata"),
        (with("event_type", json!("")), "event_type"),
        (
            with("event_type", json!("billing.invoice\u{0007}")),
            "event_type",
        ),
        (
            with("payload_content_type", json!("")),
            "payload_content_type",
        ),
    ];
    for (body, field) in cases {
        let problem = expect_problem(app.post("/event", &body).await, 422, "Validation").await;
        assert!(
            problem["validation"][field].is_array(),
            "expected an error on {field}: {problem}"
        );
    }
}

#[tokio::test]
async fn ingest_refuses_bodies_of_the_wrong_shape() {
    let (app, wired) = wired_app().await;
    let with = |field: &str, value: Value| {
        let mut body = app.event_body(&wired.application_id);
        body[field] = value;
        body
    };

    // Label values must be strings; occurred_at is required and RFC 3339.
    expect_problem(
        app.post("/event", &with("labels", json!({ "n": 1 }))).await,
        400,
        "JsonPayload",
    )
    .await;
    expect_problem(
        app.post("/event", &with("occurred_at", json!("yesterday")))
            .await,
        400,
        "JsonPayload",
    )
    .await;
    let mut no_labels = app.event_body(&wired.application_id);
    no_labels.as_object_mut().unwrap().remove("labels");
    expect_problem(app.post("/event", &no_labels).await, 400, "JsonPayload").await;

    let malformed = app
        .request(Method::POST, "/event")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, 400, "JsonPayload").await;
    let untyped = app
        .request(Method::POST, "/event")
        .body(app.event_body(&wired.application_id).to_string())
        .send()
        .await
        .unwrap();
    expect_problem(untyped, 400, "JsonPayload").await;
    let form = app
        .request(Method::POST, "/event")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("application_id=x")
        .send()
        .await
        .unwrap();
    expect_problem(form, 400, "JsonPayload").await;
}

#[tokio::test]
async fn ingest_accepts_sdk_path_spellings() {
    let (app, wired) = wired_app().await;

    for path in ["/api/v1/event/", "//api/v1/event", "/api/v1//event/"] {
        expect_json(
            app.post(path, &app.event_body(&wired.application_id)).await,
            201,
        )
        .await;
    }
}

#[tokio::test]
async fn list_shows_events_newest_first_without_payload() {
    let (app, wired) = wired_app().await;
    let first = app.ingest(&wired.application_id).await;
    let second = app.ingest(&wired.application_id).await;

    let events = expect_json(
        app.get(&format!("/events?application_id={}", wired.application_id))
            .await,
        200,
    )
    .await;

    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    events.iter().for_each(|e| assert_fields(e, &EVENT));
    assert_eq!(events[0]["event_id"], second["event_id"]);
    assert_eq!(events[1]["event_id"], first["event_id"]);
    assert_eq!(events[0]["event_type_name"], EVENT_TYPE);
    assert_eq!(events[0]["payload_content_type"], "application/json");
    assert_eq!(events[0]["labels"], json!({ "tenant": "acme" }));
    assert_eq!(events[0]["metadata"], json!({ "source": "tests" }));
    assert_eq!(events[0]["ip"], "127.0.0.1");

    expect_problem(app.get("/events").await, 422, "Validation").await;
}

#[tokio::test]
async fn get_answers_the_payload_in_base64_for_every_content_type() {
    let (app, wired) = wired_app().await;
    let raw: &[u8] = &[0, 159, 146, 150, 255, b'\n'];
    let cases = [
        (
            "text/plain",
            "hello, world".to_owned(),
            b"hello, world".to_vec(),
        ),
        (
            "application/json",
            "{\"amount\":4200}".to_owned(),
            b"{\"amount\":4200}".to_vec(),
        ),
        (
            "application/octet-stream+base64",
            BASE64.encode(raw),
            raw.to_vec(),
        ),
    ];

    for (content_type, payload, stored) in cases {
        let mut body = app.event_body(&wired.application_id);
        body["payload_content_type"] = json!(content_type);
        body["payload"] = json!(payload);
        let event_id = app.ingest_with(&body).await["event_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let path = format!("/events/{event_id}?application_id={}", wired.application_id);
        let event = expect_json(app.get(&path).await, 200).await;

        let mut fields = EVENT.to_vec();
        fields.push("payload");
        assert_fields(&event, &fields);
        assert_eq!(event["payload_content_type"], content_type);
        assert_eq!(
            BASE64.decode(event["payload"].as_str().unwrap()).unwrap(),
            stored,
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn get_of_an_unknown_event_is_not_found() {
    let (app, wired) = wired_app().await;

    let unknown = app
        .get(&format!(
            "/events/{}?application_id={}",
            Uuid::new_v4(),
            wired.application_id
        ))
        .await;
    expect_problem(unknown, 404, "NotFound").await;
    let malformed = app
        .get(&format!(
            "/events/12345?application_id={}",
            wired.application_id
        ))
        .await;
    expect_problem(malformed, 404, "NotFound").await;
    // An event of another application is not found either.
    let other = app.create_org_app().await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = app
        .get(&format!(
            "/events/{event_id}?application_id={}",
            other.application_id
        ))
        .await;
    expect_problem(foreign, 404, "NotFound").await;
}

#[tokio::test]
async fn replay_creates_new_first_attempts() {
    let (app, wired) = wired_app().await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let original = app.event_attempts(&wired.application_id, &event_id).await;

    let body = json!({ "application_id": wired.application_id });
    expect_empty(
        app.post(&format!("/events/{event_id}/replay"), &body).await,
        204,
    )
    .await;

    let attempts = app.event_attempts(&wired.application_id, &event_id).await;
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|a| a["retry_count"] == 0));
    let replayed = attempts
        .iter()
        .find(|a| a["request_attempt_id"] != original[0]["request_attempt_id"])
        .unwrap();
    assert_eq!(
        replayed["subscription"]["subscription_id"],
        wired.subscription_id.as_str()
    );

    let unknown = app
        .post(&format!("/events/{}/replay", Uuid::new_v4()), &body)
        .await;
    expect_problem(unknown, 404, "NotFound").await;
}

#[tokio::test]
async fn events_of_another_application_are_forbidden() {
    let (app, wired) = wired_app().await;
    let other = app.create_org_app().await;
    let as_other = app.with_token(&other.secret);
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    expect_problem(
        as_other
            .post("/event", &app.event_body(&wired.application_id))
            .await,
        403,
        "Forbidden",
    )
    .await;
    let list = as_other
        .get(&format!("/events?application_id={}", wired.application_id))
        .await;
    expect_problem(list, 403, "Forbidden").await;
    let get = as_other
        .get(&format!(
            "/events/{event_id}?application_id={}",
            wired.application_id
        ))
        .await;
    expect_problem(get, 403, "Forbidden").await;
    let replay = as_other
        .post(
            &format!("/events/{event_id}/replay"),
            &json!({ "application_id": wired.application_id }),
        )
        .await;
    expect_problem(replay, 403, "Forbidden").await;

    // With its own secret, the application ingests (the SDKs' way).
    let as_owner = app.with_token(&wired.org.secret);
    expect_json(
        as_owner
            .post("/event", &app.event_body(&wired.application_id))
            .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn ingest_into_an_unknown_application_is_forbidden() {
    let (app, _wired) = wired_app().await;

    let body = app.event_body(&Uuid::new_v4().to_string());
    expect_problem(app.post("/event", &body).await, 403, "Forbidden").await;
}
