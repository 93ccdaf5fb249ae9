//! The consumer portal's API: minting sessions (every field validated), using one, expiry on a
//! controlled clock, revocation, capabilities, and the isolation matrix: nothing outside a
//! session's scope (another customer's labels, another application) is visible or reachable.

use std::time::Duration;

use hook0_core::clock::Clock;
use serde_json::{json, Value};

use crate::helpers::*;

const EVERYTHING: [&str; 6] = [
    "view",
    "manage_subscriptions",
    "view_secret",
    "rotate_secret",
    "retry",
    "send_test",
];

/// Mints a session on `application_id` for the customer `tenant`; returns its secret.
async fn mint(app: &TestApp, application_id: &str, tenant: &str, capabilities: &[&str]) -> String {
    let body = json!({
        "application_id": application_id,
        "labels": { "tenant": tenant },
        "capabilities": capabilities,
    });
    let session = expect_json(app.post("/portal_sessions", &body).await, 201).await;
    secret_of(&session)
}

fn secret_of(session: &Value) -> String {
    let url = session["url"].as_str().expect("a url");
    url.rsplit('/').next().unwrap().to_owned()
}

/// A subscription of `tenant` (label `tenant=<tenant>`) to `url`, created by the sender.
async fn subscription_of(app: &TestApp, application_id: &str, tenant: &str, url: &str) -> Value {
    let mut body = app.subscription_body(application_id, url);
    body["labels"] = json!({ "tenant": tenant });
    app.create_subscription_with(&body).await
}

fn portal_subscription(url: &str) -> Value {
    json!({
        "event_types": [EVENT_TYPE],
        "description": "Our ledger",
        "target": { "type": "http", "method": "POST", "url": url, "headers": { "x-key": "k" } },
    })
}

#[tokio::test]
async fn minting_validates_every_field_and_creates_nothing_on_refusal() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let base = json!({ "application_id": org.application_id, "labels": { "tenant": "acme" } });
    let cases: [(&str, Value, &str); 10] = [
        ("labels", json!({}), "labels"),
        ("capabilities", json!(["view", "admin"]), "capabilities"),
        ("capabilities", json!([]), "capabilities"),
        ("expires_in", json!(299), "expires_in"),
        ("expires_in", json!(604_801), "expires_in"),
        (
            "allowed_origins",
            json!(["https://app.example.com/embed"]),
            "allowed_origins",
        ),
        ("theme", json!({ "accent": "red" }), "theme.accent"),
        (
            "theme",
            json!({ "accent": "#fff;background:url(//x)" }),
            "theme.accent",
        ),
        (
            "theme",
            json!({ "logo_url": "http://cdn.example.com/logo.png" }),
            "theme.logo_url",
        ),
        ("theme", json!({ "mode": "neon" }), "theme.mode"),
    ];
    for (field, value, reported) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let problem =
            expect_problem(app.post("/portal_sessions", &body).await, 422, "Validation").await;
        assert!(
            problem["validation"].get(reported).is_some(),
            "{field} = {value} reports {reported}: {problem}"
        );
    }
    let listed = expect_json(
        app.get(&format!(
            "/portal_sessions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]), "nothing was created");
    expect_problem(
        app.anonymous().post("/portal_sessions", &base).await,
        401,
        "AuthNoAuthorizationHeader",
    )
    .await;

    // Every field accepted, and the defaults.
    let mut full = base.clone();
    full["capabilities"] = json!(EVERYTHING);
    full["expires_in"] = json!(604_800);
    full["allowed_origins"] = json!(["https://App.Example.com", "http://127.0.0.1:3000/"]);
    full["theme"] =
        json!({ "accent": "#0a7", "logo_url": "https://cdn.example.com/l.svg", "mode": "dark" });
    let session = expect_json(app.post("/portal_sessions", &full).await, 201).await;
    assert!(session["url"]
        .as_str()
        .unwrap()
        .contains("/portal/h0portal_"));
    assert_eq!(
        session["allowed_origins"],
        json!(["https://app.example.com", "http://127.0.0.1:3000"])
    );
    assert_eq!(session["theme"]["mode"], "dark");
    let lifetime = time(&session["expires_at"]) - time(&session["created_at"]);
    assert_eq!(lifetime.num_seconds(), 604_800);
    let short = expect_json(app.post("/portal_sessions", &base).await, 201).await;
    assert_eq!(short["capabilities"], json!(["view"]));
    let lifetime = time(&short["expires_at"]) - time(&short["created_at"]);
    assert_eq!(lifetime.num_seconds(), 3600);
}

#[tokio::test]
async fn a_session_is_listed_without_its_url_and_revoked_at_once() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let secret = mint(&app, &org.application_id, "acme", &["view"]).await;
    let customer = app.with_token(&secret);
    let info = expect_json(customer.get("/portal/session").await, 200).await;
    assert_eq!(info["application_name"], "Billing");
    assert_eq!(info["labels"], json!({ "tenant": "acme" }));

    let listed = expect_json(
        app.get(&format!(
            "/portal_sessions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("url").is_none(),
        "the url is shown once, at mint"
    );
    let id = listed[0]["portal_session_id"].as_str().unwrap().to_owned();

    // Another organization cannot even tell it exists.
    let stranger = app.create_org_app().await;
    expect_problem(
        app.with_token(&stranger.secret)
            .delete(&format!("/portal_sessions/{id}"))
            .await,
        404,
        "NotFound",
    )
    .await;
    expect_json(customer.get("/portal/session").await, 200).await;

    expect_empty(app.delete(&format!("/portal_sessions/{id}")).await, 204).await;
    let refused = expect_problem(
        customer.get("/portal/session").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("revoked"),
        "{refused}"
    );
    let listed = expect_json(
        app.get(&format!(
            "/portal_sessions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]));
    // Garbage and near-misses are refused before any lookup.
    for bad in [
        "h0portal_short",
        "not-a-portal-secret",
        &secret[..secret.len() - 1],
    ] {
        expect_problem(
            app.with_token(bad).get("/portal/session").await,
            403,
            "AuthInvalidBiscuit",
        )
        .await;
    }
}

#[tokio::test]
async fn a_session_expires_by_the_clock() {
    let clock = Clock::manual();
    let app = spawn_app_with(|c| c.api.clock = clock.clone()).await;
    let org = app.create_org_app().await;
    let body = json!({
        "application_id": org.application_id,
        "labels": { "tenant": "acme" },
        "expires_in": 300,
    });
    let secret = secret_of(&expect_json(app.post("/portal_sessions", &body).await, 201).await);
    let customer = app.with_token(&secret);
    expect_json(customer.get("/portal/session").await, 200).await;

    clock.advance(Duration::from_secs(299));
    expect_json(customer.get("/portal/session").await, 200).await;
    clock.advance(Duration::from_secs(2));
    let refused = expect_problem(
        customer.get("/portal/session").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
    let listed = expect_json(
        app.get(&format!(
            "/portal_sessions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]), "an expired session is not live");
}

#[tokio::test]
async fn capabilities_gate_every_action() {
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let sub = subscription_of(&app, &org.application_id, "acme", &receiver.url("/hook")).await;
    let sub_id = sub["subscription_id"].as_str().unwrap();
    app.ingest(&org.application_id).await;
    receiver.wait_for_requests(1, Duration::from_secs(10)).await;
    let attempt_id = first_attempt(&app, &org.application_id, sub_id).await;

    let viewer = mint(&app, &org.application_id, "acme", &["view"]).await;
    let viewer = app.with_token(&viewer);
    // What view grants.
    expect_json(viewer.get("/portal/subscriptions").await, 200).await;
    expect_json(viewer.get("/portal/event_types").await, 200).await;
    expect_json(
        viewer.get(&format!("/portal/subscriptions/{sub_id}")).await,
        200,
    )
    .await;
    expect_json(
        viewer
            .get(&format!("/portal/subscriptions/{sub_id}/request_attempts"))
            .await,
        200,
    )
    .await;
    expect_json(
        viewer
            .get(&format!("/portal/request_attempts/{attempt_id}"))
            .await,
        200,
    )
    .await;
    expect_json(
        viewer
            .get(&format!("/portal/subscriptions/{sub_id}/dead_letters"))
            .await,
        200,
    )
    .await;
    // What it does not.
    let refusals = [
        viewer
            .post(
                "/portal/subscriptions",
                &portal_subscription(&receiver.url("/x")),
            )
            .await,
        viewer
            .put(
                &format!("/portal/subscriptions/{sub_id}"),
                &portal_subscription(&receiver.url("/x")),
            )
            .await,
        viewer
            .delete(&format!("/portal/subscriptions/{sub_id}"))
            .await,
        viewer
            .get(&format!("/portal/subscriptions/{sub_id}/secret"))
            .await,
        viewer
            .post(
                &format!("/portal/subscriptions/{sub_id}/secret/rotate"),
                &json!({}),
            )
            .await,
        viewer
            .post(&format!("/portal/subscriptions/{sub_id}/test"), &json!({}))
            .await,
        viewer
            .post(
                &format!("/portal/request_attempts/{attempt_id}/resend"),
                &json!({}),
            )
            .await,
        viewer
            .post(
                &format!("/portal/subscriptions/{sub_id}/dead_letters/redeliver"),
                &json!({}),
            )
            .await,
    ];
    for refused in refusals {
        expect_problem(refused, 403, "Forbidden").await;
    }
    let listed = expect_json(viewer.get("/portal/subscriptions").await, 200).await;
    assert_eq!(
        listed[0]["secret"], "00000000-0000-0000-0000-000000000000",
        "hidden without view_secret"
    );
    assert_eq!(
        receiver.requests().len(),
        1,
        "nothing was sent by a refused action"
    );

    // With every capability, each of them works.
    let owner = mint(&app, &org.application_id, "acme", &EVERYTHING).await;
    let owner = app.with_token(&owner);
    let secret = expect_json(
        owner
            .get(&format!("/portal/subscriptions/{sub_id}/secret"))
            .await,
        200,
    )
    .await;
    assert_eq!(secret["secret"], sub["secret"]);
    let rotated = expect_json(
        owner
            .post(
                &format!("/portal/subscriptions/{sub_id}/secret/rotate"),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
    assert_ne!(rotated["secret"], sub["secret"]);
    let resent = expect_json(
        owner
            .post(
                &format!("/portal/request_attempts/{attempt_id}/resend"),
                &json!({}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(resent["subscription"]["subscription_id"], sub_id);
    let tested = expect_json(
        owner
            .post(&format!("/portal/subscriptions/{sub_id}/test"), &json!({}))
            .await,
        201,
    )
    .await;
    assert!(tested["request_attempt_id"].is_string());
    let received = receiver.wait_for_requests(3, Duration::from_secs(10)).await;
    // The resend and the test are signed with the new secret.
    let new_secret = rotated["secret"].as_str().unwrap();
    for request in &received[1..] {
        verify(request, "X-Hook0-Signature", new_secret);
    }
    let created = expect_json(
        owner
            .post(
                "/portal/subscriptions",
                &portal_subscription(&receiver.url("/new")),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(
        created["labels"],
        json!({ "tenant": "acme" }),
        "the scope's labels are forced in"
    );
    let created_id = created["subscription_id"].as_str().unwrap();
    let mut edit = portal_subscription(&receiver.url("/moved"));
    edit["is_enabled"] = json!(false);
    let edited = expect_json(
        owner
            .put(&format!("/portal/subscriptions/{created_id}"), &edit)
            .await,
        200,
    )
    .await;
    assert_eq!(edited["is_enabled"], false);
    assert_eq!(edited["labels"], json!({ "tenant": "acme" }));
    expect_empty(
        owner
            .delete(&format!("/portal/subscriptions/{created_id}"))
            .await,
        204,
    )
    .await;
    expect_json(
        owner
            .post(
                &format!("/portal/subscriptions/{sub_id}/dead_letters/redeliver"),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
}

async fn first_attempt(app: &TestApp, application_id: &str, subscription_id: &str) -> String {
    let attempts = expect_json(
        app.get(&format!(
            "/request_attempts?application_id={application_id}&subscription_id={subscription_id}"
        ))
        .await,
        200,
    )
    .await;
    attempts[0]["request_attempt_id"]
        .as_str()
        .expect("an attempt")
        .to_owned()
}

#[tokio::test]
async fn the_scope_is_enforced_on_every_action() {
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    // Application A: customers acme and globex. Application B (another organization): acme too.
    let a = app.create_org_app().await;
    let b = app.create_org_app().await;
    for org in [&a, &b] {
        app.create_event_type(&org.application_id, EVENT_TYPE).await;
    }
    let ours = subscription_of(&app, &a.application_id, "acme", &receiver.url("/acme")).await;
    let neighbour =
        subscription_of(&app, &a.application_id, "globex", &receiver.url("/globex")).await;
    let elsewhere = subscription_of(&app, &b.application_id, "acme", &receiver.url("/b")).await;
    for (org, tenant) in [(&a, "acme"), (&a, "globex"), (&b, "acme")] {
        let mut event = app.event_body(&org.application_id);
        event["labels"] = json!({ "tenant": tenant });
        app.ingest_with(&event).await;
    }
    receiver.wait_for_requests(3, Duration::from_secs(10)).await;

    let session = mint(&app, &a.application_id, "acme", &EVERYTHING).await;
    let customer = app.with_token(&session);

    // Lists show the scope only.
    let listed = expect_json(customer.get("/portal/subscriptions").await, 200).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscription_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ours["subscription_id"].as_str().unwrap()]);

    // Every action on a subscription or an attempt outside the scope answers like an unknown id.
    for (foreign, org) in [(&neighbour, &a), (&elsewhere, &b)] {
        let id = foreign["subscription_id"].as_str().unwrap();
        let attempt = first_attempt(&app, &org.application_id, id).await;
        let unknown = [
            customer.get(&format!("/portal/subscriptions/{id}")).await,
            customer
                .put(
                    &format!("/portal/subscriptions/{id}"),
                    &portal_subscription(&receiver.url("/stolen")),
                )
                .await,
            customer
                .delete(&format!("/portal/subscriptions/{id}"))
                .await,
            customer
                .get(&format!("/portal/subscriptions/{id}/secret"))
                .await,
            customer
                .post(
                    &format!("/portal/subscriptions/{id}/secret/rotate"),
                    &json!({}),
                )
                .await,
            customer
                .post(&format!("/portal/subscriptions/{id}/test"), &json!({}))
                .await,
            customer
                .get(&format!("/portal/subscriptions/{id}/request_attempts"))
                .await,
            customer
                .get(&format!("/portal/subscriptions/{id}/dead_letters"))
                .await,
            customer
                .post(
                    &format!("/portal/subscriptions/{id}/dead_letters/redeliver"),
                    &json!({}),
                )
                .await,
            customer
                .get(&format!("/portal/request_attempts/{attempt}"))
                .await,
            customer
                .post(
                    &format!("/portal/request_attempts/{attempt}/resend"),
                    &json!({}),
                )
                .await,
        ];
        for (n, refused) in unknown.into_iter().enumerate() {
            assert_eq!(refused.status(), 404, "action {n} on {id}");
            expect_problem(refused, 404, "NotFound").await;
        }
        // Nothing changed on the sender's side.
        let after = expect_json(app.get(&format!("/subscriptions/{id}")).await, 200).await;
        assert_eq!(after["secret"], foreign["secret"]);
        assert_eq!(after["target"], foreign["target"]);
    }
    let never_ours = uuid::Uuid::new_v4();
    expect_problem(
        customer
            .get(&format!("/portal/subscriptions/{never_ours}"))
            .await,
        404,
        "NotFound",
    )
    .await;

    // Creating into another customer's scope is refused; the scope's labels win.
    let mut grab = portal_subscription(&receiver.url("/grab"));
    grab["labels"] = json!({ "tenant": "globex" });
    let refused = expect_problem(
        customer.post("/portal/subscriptions", &grab).await,
        422,
        "Validation",
    )
    .await;
    assert!(refused["validation"].get("labels").is_some());
    grab["labels"] = json!({ "region": "eu" });
    let created = expect_json(customer.post("/portal/subscriptions", &grab).await, 201).await;
    assert_eq!(
        created["labels"],
        json!({ "region": "eu", "tenant": "acme" })
    );
    let mut unknown_type = portal_subscription(&receiver.url("/x"));
    unknown_type["event_types"] = json!(["not.in.catalog"]);
    expect_problem(
        customer.post("/portal/subscriptions", &unknown_type).await,
        422,
        "Validation",
    )
    .await;

    // No attempt was added for another customer: each still has its one ingest's attempt.
    for (foreign, org) in [(&neighbour, &a), (&elsewhere, &b)] {
        let id = foreign["subscription_id"].as_str().unwrap();
        let attempts = expect_json(
            app.get(&format!(
                "/request_attempts?application_id={}&subscription_id={id}",
                org.application_id
            ))
            .await,
            200,
        )
        .await;
        assert_eq!(attempts.as_array().unwrap().len(), 1, "{id}");
    }
}

#[tokio::test]
async fn a_test_event_and_an_attempt_in_full() {
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let first = subscription_of(&app, &org.application_id, "acme", &receiver.url("/first")).await;
    let second = subscription_of(&app, &org.application_id, "acme", &receiver.url("/second")).await;
    let session = mint(&app, &org.application_id, "acme", &["send_test"]).await;
    let customer = app.with_token(&session);
    let first_id = first["subscription_id"].as_str().unwrap();

    let payload = json!({ "hello": "<script>alert(1)</script>" });
    let sent = expect_json(
        customer
            .post(
                &format!("/portal/subscriptions/{first_id}/test"),
                &json!({ "payload": payload }),
            )
            .await,
        201,
    )
    .await;
    let received = receiver.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(received[0].path, "/first");
    assert_eq!(
        serde_json::from_slice::<Value>(&received[0].body).unwrap(),
        payload
    );
    let second_id = second["subscription_id"].as_str().unwrap();
    let others = expect_json(
        customer
            .get(&format!(
                "/portal/subscriptions/{second_id}/request_attempts"
            ))
            .await,
        200,
    )
    .await;
    assert_eq!(
        others,
        json!([]),
        "a test goes to one subscription, never a fan-out"
    );
    let refused = expect_problem(
        customer
            .post(
                &format!("/portal/subscriptions/{first_id}/test"),
                &json!({ "event_type": "other.type.x" }),
            )
            .await,
        422,
        "Validation",
    )
    .await;
    assert!(refused["validation"].get("event_type").is_some());

    // The attempt in full: status, the response, and the event as sent.
    let attempt_id = sent["request_attempt_id"].as_str().unwrap();
    let detail = wait_for(
        || async {
            let detail = expect_json(
                customer
                    .get(&format!("/portal/request_attempts/{attempt_id}"))
                    .await,
                200,
            )
            .await;
            (detail["request_attempt"]["status"]["type"] == "successful").then_some(detail)
        },
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(detail["response"]["http_code"], 200);
    assert_eq!(detail["event"]["payload_content_type"], "application/json");
    assert!(
        detail["event"].get("metadata").is_none(),
        "the sender's metadata stays private"
    );
    let listed = expect_json(
        customer
            .get(&format!(
                "/portal/subscriptions/{first_id}/request_attempts?status=successful"
            ))
            .await,
        200,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    expect_problem(
        customer
            .get(&format!(
                "/portal/subscriptions/{first_id}/request_attempts?status=nonsense"
            ))
            .await,
        422,
        "Validation",
    )
    .await;
}

#[tokio::test]
async fn test_sends_are_limited_per_endpoint() {
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let first = subscription_of(&app, &org.application_id, "acme", &receiver.url("/a")).await;
    let second = subscription_of(&app, &org.application_id, "acme", &receiver.url("/b")).await;
    let session = mint(&app, &org.application_id, "acme", &["send_test"]).await;
    let customer = app.with_token(&session);
    let path = |sub: &Value| {
        format!(
            "/portal/subscriptions/{}/test",
            sub["subscription_id"].as_str().unwrap()
        )
    };
    for _ in 0..5 {
        expect_json(customer.post(&path(&first), &json!({})).await, 201).await;
    }
    let limited = customer.post(&path(&first), &json!({})).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=10).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    expect_problem(limited, 429, "RateLimited").await;
    // Another endpoint has its own budget.
    expect_json(customer.post(&path(&second), &json!({})).await, 201).await;
}
