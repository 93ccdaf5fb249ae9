//! `/subscriptions`: create (labels or legacy label pair), list, get, full-replacement PUT,
//! soft delete; disabling or deleting fails the pending attempts.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

/// Upstream's fields, then this server's additions (circuit state, Standard Webhooks signing,
/// ordered delivery), which upstream clients ignore.
const SUBSCRIPTION: [&str; 19] = [
    "application_id",
    "subscription_id",
    "is_enabled",
    "event_types",
    "description",
    "secret",
    "metadata",
    "label_key",
    "label_value",
    "labels",
    "target",
    "created_at",
    "updated_at",
    "dedicated_workers",
    "circuit",
    "standard_webhooks",
    "standard_webhooks_secrets",
    "ordering_label",
    "ordering_on_dead_letter",
];

/// An application with [`EVENT_TYPE`] registered.
async fn app_with_event_type(app: &TestApp) -> OrgApp {
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    org
}

#[tokio::test]
async fn create_answers_201_with_the_subscription_and_a_secret() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let mut body = app.subscription_body(&org.application_id, "https://example.com/webhooks");
    body["target"]["headers"] = json!({ "x-tenant": "acme" });

    let sub = expect_json(app.post("/subscriptions", &body).await, 201).await;

    assert_fields(&sub, &SUBSCRIPTION);
    assert_uuid(&sub["subscription_id"], 4);
    assert_uuid(&sub["secret"], 4);
    assert_eq!(sub["application_id"], org.application_id.as_str());
    assert_eq!(sub["is_enabled"], true);
    assert_eq!(sub["event_types"], json!([EVENT_TYPE]));
    assert_eq!(sub["description"], "Invoices to the accounting system");
    assert_eq!(sub["metadata"], json!({ "team": "finance" }));
    assert_eq!(sub["labels"], json!({ "tenant": "acme" }));
    assert_eq!(sub["label_key"], "tenant");
    assert_eq!(sub["label_value"], "acme");
    assert_eq!(
        sub["target"],
        json!({ "type": "http", "method": "POST", "url": "https://example.com/webhooks", "headers": { "x-tenant": "acme" } })
    );
    assert_eq!(sub["dedicated_workers"], json!([]));
    assert_eq!(time(&sub["created_at"]), time(&sub["updated_at"]));
}

#[tokio::test]
async fn the_legacy_label_pair_is_accepted_and_labels_win_over_it() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let mut body = app.subscription_body(&org.application_id, "https://example.com/hook");
    body.as_object_mut().unwrap().remove("labels");
    body["label_key"] = json!("region");
    body["label_value"] = json!("eu");

    let legacy = expect_json(app.post("/subscriptions", &body).await, 201).await;
    assert_eq!(legacy["labels"], json!({ "region": "eu" }));
    assert_eq!(
        (legacy["label_key"].as_str(), legacy["label_value"].as_str()),
        (Some("region"), Some("eu"))
    );

    body["labels"] = json!({ "tenant": "acme" });
    let both = expect_json(app.post("/subscriptions", &body).await, 201).await;
    assert_eq!(both["labels"], json!({ "tenant": "acme" }));
}

#[tokio::test]
async fn without_labels_the_subscription_is_ambiguous() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let mut body = app.subscription_body(&org.application_id, "https://example.com/hook");
    body.as_object_mut().unwrap().remove("labels");

    expect_problem(
        app.post("/subscriptions", &body).await,
        400,
        "LabelsAmbiguity",
    )
    .await;

    body["label_key"] = json!("region");
    expect_problem(
        app.post("/subscriptions", &body).await,
        400,
        "LabelsAmbiguity",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_event_type_is_refused() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let mut body = app.subscription_body(&org.application_id, "https://example.com/hook");
    body["event_types"] = json!([EVENT_TYPE, "billing.invoice.voided"]);

    expect_problem(
        app.post("/subscriptions", &body).await,
        400,
        "EventTypeDoesNotExist",
    )
    .await;
}

#[tokio::test]
async fn create_validates_every_field() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let base = app.subscription_body(&org.application_id, "https://example.com/hook");
    let with = |pointer: &str, value: Value| {
        let mut body = base.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };

    let cases = [
        (with("/event_types", json!([])), "event_types"),
        (with("/description", json!("")), "description"),
        (with("/labels", json!({})), "labels"),
        (
            with("/labels", json!({ "tenant": "x".repeat(51) })),
            "labels",
        ),
        (with("/metadata", json!({ "": "empty key" })), "metadata"),
        (with("/target/method", json!("post")), "target.method"),
        (with("/target/method", json!("CONNECT")), "target.method"),
        (
            with("/target/headers", json!({ "bad header": "v" })),
            "target.headers",
        ),
    ];
    for (body, field) in cases {
        let problem =
            expect_problem(app.post("/subscriptions", &body).await, 422, "Validation").await;
        assert!(
            problem["validation"][field].is_array(),
            "expected an error on {field}: {problem}"
        );
    }

    for url in ["ftp://example.com/hook", "not a url", "http://"] {
        let body = with("/target/url", json!(url));
        expect_problem(app.post("/subscriptions", &body).await, 400, "JsonPayload").await;
    }
    let body = with("/target/type", json!("amqp"));
    expect_problem(app.post("/subscriptions", &body).await, 400, "JsonPayload").await;
    let body = with("/is_enabled", json!("yes"));
    expect_problem(app.post("/subscriptions", &body).await, 400, "JsonPayload").await;
}

#[tokio::test]
async fn headers_that_frame_or_route_the_request_are_refused() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let mut body = app.subscription_body(&org.application_id, "https://example.com/hook");
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Authorization",
        "Host",
    ] {
        body["target"]["headers"] = json!({ name: "0" });
        let problem =
            expect_problem(app.post("/subscriptions", &body).await, 422, "Validation").await;
        assert!(
            problem["validation"]["target.headers"].is_array(),
            "{name}: {problem}"
        );
    }
    let listed = expect_json(
        app.get(&format!(
            "/subscriptions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]), "nothing was created");
    // An updating PUT is held to the same rule.
    body["target"]["headers"] = json!({ "X-Api-Key": "k" });
    let created = expect_json(app.post("/subscriptions", &body).await, 201).await;
    body["target"]["headers"] = json!({ "Content-Length": "0" });
    let id = created["subscription_id"].as_str().unwrap();
    expect_problem(
        app.put(&format!("/subscriptions/{id}"), &body).await,
        422,
        "Validation",
    )
    .await;
}

#[tokio::test]
async fn list_shows_live_subscriptions_oldest_first() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let first = app
        .create_subscription(&org.application_id, "https://example.com/1")
        .await;
    let second = app
        .create_subscription(&org.application_id, "https://example.com/2")
        .await;

    let listed = expect_json(
        app.get(&format!(
            "/subscriptions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;

    assert_eq!(listed, json!([first, second]));
    expect_problem(app.get("/subscriptions").await, 422, "Validation").await;
}

#[tokio::test]
async fn get_answers_one_subscription_or_404() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let sub = app
        .create_subscription(&org.application_id, "https://example.com/hook")
        .await;

    let fetched = expect_json(
        app.get(&format!(
            "/subscriptions/{}",
            sub["subscription_id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(fetched, sub);

    expect_problem(
        app.get(&format!("/subscriptions/{}", Uuid::new_v4())).await,
        404,
        "NotFound",
    )
    .await;
    expect_problem(app.get("/subscriptions/123").await, 404, "NotFound").await;
}

#[tokio::test]
async fn put_replaces_the_subscription_but_keeps_its_secret() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    app.create_event_type(&org.application_id, "billing.invoice.voided")
        .await;
    let sub = app
        .create_subscription(&org.application_id, "https://example.com/hook")
        .await;
    let path = format!(
        "/subscriptions/{}",
        sub["subscription_id"].as_str().unwrap()
    );

    let replacement = json!({
        "application_id": org.application_id,
        "is_enabled": true,
        "event_types": ["billing.invoice.voided"],
        "label_key": "region",
        "label_value": "eu",
        "target": { "type": "http", "method": "PUT", "url": "https://example.com/v2", "headers": { "x-v": "2" } },
    });
    let updated = expect_json(app.put(&path, &replacement).await, 200).await;

    assert_fields(&updated, &SUBSCRIPTION);
    assert_eq!(updated["subscription_id"], sub["subscription_id"]);
    assert_eq!(updated["secret"], sub["secret"]);
    assert_eq!(time(&updated["created_at"]), time(&sub["created_at"]));
    assert!(time(&updated["updated_at"]) >= time(&sub["updated_at"]));
    assert_eq!(updated["event_types"], json!(["billing.invoice.voided"]));
    assert!(
        updated["description"].is_null(),
        "a full replacement drops the description"
    );
    assert_eq!(updated["metadata"], json!({}));
    assert_eq!(updated["labels"], json!({ "region": "eu" }));
    assert_eq!(updated["target"]["method"], "PUT");
    assert_eq!(expect_json(app.get(&path).await, 200).await, updated);

    let unknown = app
        .put(&format!("/subscriptions/{}", Uuid::new_v4()), &replacement)
        .await;
    expect_problem(unknown, 404, "NotFound").await;
}

#[tokio::test]
async fn put_with_an_unknown_event_type_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let sub = app
        .create_subscription(&org.application_id, "https://example.com/hook")
        .await;
    let path = format!(
        "/subscriptions/{}",
        sub["subscription_id"].as_str().unwrap()
    );

    let mut body = app.subscription_body(&org.application_id, "https://example.com/changed");
    body["event_types"] = json!(["billing.invoice.unknown"]);
    expect_problem(app.put(&path, &body).await, 400, "EventTypeDoesNotExist").await;

    assert_eq!(expect_json(app.get(&path).await, 200).await, sub);
}

#[tokio::test]
async fn put_through_another_application_is_not_found() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let other = app.create_org_app().await;
    let sub = app
        .create_subscription(&org.application_id, "https://example.com/hook")
        .await;
    let path = format!(
        "/subscriptions/{}",
        sub["subscription_id"].as_str().unwrap()
    );

    // The other application does not even know the event type: still, no such subscription there.
    let body = app.subscription_body(&other.application_id, "https://example.com/hijack");
    expect_problem(app.put(&path, &body).await, 404, "NotFound").await;
    let as_other = app.with_token(&other.secret);
    expect_problem(as_other.put(&path, &body).await, 404, "NotFound").await;

    assert_eq!(expect_json(app.get(&path).await, 200).await, sub);
}

#[tokio::test]
async fn delete_is_soft_and_hides_the_subscription() {
    let app = spawn_app().await;
    let org = app_with_event_type(&app).await;
    let sub = app
        .create_subscription(&org.application_id, "https://example.com/hook")
        .await;
    let id = sub["subscription_id"].as_str().unwrap();

    expect_empty(
        app.delete(&format!(
            "/subscriptions/{id}?application_id={}",
            org.application_id
        ))
        .await,
        204,
    )
    .await;

    expect_problem(
        app.get(&format!("/subscriptions/{id}")).await,
        404,
        "NotFound",
    )
    .await;
    let listed = expect_json(
        app.get(&format!(
            "/subscriptions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]));
    let again = app
        .delete(&format!(
            "/subscriptions/{id}?application_id={}",
            org.application_id
        ))
        .await;
    expect_problem(again, 404, "NotFound").await;
    expect_problem(
        app.delete(&format!("/subscriptions/{id}")).await,
        422,
        "Validation",
    )
    .await;
}

#[tokio::test]
async fn disabling_fails_the_pending_attempts() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.event_attempts(&wired.application_id, &event_id).await;
    assert_eq!(before[0]["status"]["type"], "pending");

    let mut body = wired.subscription.clone();
    body["is_enabled"] = json!(false);
    let updated = expect_json(
        app.put(&format!("/subscriptions/{}", wired.subscription_id), &body)
            .await,
        200,
    )
    .await;
    assert_eq!(updated["is_enabled"], false);

    let after = app.event_attempts(&wired.application_id, &event_id).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["status"]["type"], "failed");
    assert!(!after[0]["failed_at"].is_null());
    assert!(
        app.store.next_due_at().await.unwrap().is_none(),
        "nothing left to deliver"
    );
    // A disabled subscription gets no new attempts.
    let later = app.ingest(&wired.application_id).await;
    assert_eq!(
        app.event_attempts(&wired.application_id, later["event_id"].as_str().unwrap())
            .await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn deleting_fails_the_pending_attempts() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    let event_id = app.ingest(&wired.application_id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!(
        "/subscriptions/{}?application_id={}",
        wired.subscription_id, wired.application_id
    );
    expect_empty(app.delete(&path).await, 204).await;

    let after = app.event_attempts(&wired.application_id, &event_id).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["status"]["type"], "failed");
    assert!(
        app.store.next_due_at().await.unwrap().is_none(),
        "nothing left to deliver"
    );
}

#[tokio::test]
async fn subscriptions_of_another_application_are_forbidden() {
    let app = spawn_app().await;
    let mine = app_with_event_type(&app).await;
    let theirs = app_with_event_type(&app).await;
    let their_sub = app
        .create_subscription(&theirs.application_id, "https://example.com/hook")
        .await;
    let their_id = their_sub["subscription_id"].as_str().unwrap();
    let as_mine = app.with_token(&mine.secret);

    let body = app.subscription_body(&theirs.application_id, "https://attacker.example/hook");
    expect_problem(
        as_mine.post("/subscriptions", &body).await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(
        as_mine.get(&format!("/subscriptions/{their_id}")).await,
        404,
        "NotFound",
    )
    .await;
    expect_problem(
        as_mine
            .put(&format!("/subscriptions/{their_id}"), &body)
            .await,
        403,
        "Forbidden",
    )
    .await;
    let delete = as_mine
        .delete(&format!(
            "/subscriptions/{their_id}?application_id={}",
            theirs.application_id
        ))
        .await;
    expect_problem(delete, 403, "Forbidden").await;
    let list = as_mine
        .get(&format!(
            "/subscriptions?application_id={}",
            theirs.application_id
        ))
        .await;
    expect_problem(list, 403, "Forbidden").await;
    // Its own application it may subscribe.
    let own = app.subscription_body(&mine.application_id, "https://example.com/mine");
    expect_json(as_mine.post("/subscriptions", &own).await, 201).await;
}

#[tokio::test]
async fn viewers_see_subscriptions_without_their_secrets() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let editor = app.user("editor@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let orgs = expect_json(
        app.with_token(&editor.access_token)
            .get("/organizations")
            .await,
        200,
    )
    .await;
    let org = orgs[0]["organization_id"].as_str().unwrap().to_owned();
    app.invite(&org, "viewer@example.com", "viewer").await;
    let viewer = app.session(&viewer.email, &viewer.user_id).await;
    let application_id = app.create_app(&org, "Billing").await;
    app.create_event_type(&application_id, EVENT_TYPE).await;
    let mut body = app.subscription_body(&application_id, "https://example.com/hook");
    body["target"]["headers"] = json!({ "X-Api-Key": "endpoint-credential" });
    body["standard_webhooks"] = json!(true);
    let created = expect_json(
        app.with_token(&editor.access_token)
            .post("/subscriptions", &body)
            .await,
        201,
    )
    .await;
    let id = created["subscription_id"].as_str().unwrap();
    let list = format!("/subscriptions?application_id={application_id}");

    for as_editor in [
        expect_json(app.with_token(&editor.access_token).get(&list).await, 200).await[0].clone(),
        expect_json(
            app.with_token(&editor.access_token)
                .get(&format!("/subscriptions/{id}"))
                .await,
            200,
        )
        .await,
    ] {
        assert_eq!(as_editor["secret"], created["secret"]);
        assert_eq!(
            as_editor["target"]["headers"]["X-Api-Key"],
            "endpoint-credential"
        );
        assert!(as_editor["standard_webhooks_secrets"][0]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_"));
    }
    for as_viewer in [
        expect_json(app.with_token(&viewer.access_token).get(&list).await, 200).await[0].clone(),
        expect_json(
            app.with_token(&viewer.access_token)
                .get(&format!("/subscriptions/{id}"))
                .await,
            200,
        )
        .await,
    ] {
        assert_eq!(as_viewer["secret"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(as_viewer["target"]["headers"]["X-Api-Key"], "[redacted]");
        assert_eq!(
            as_viewer["standard_webhooks_secrets"][0]["secret"],
            "[redacted]"
        );
        assert_eq!(as_viewer["target"]["url"], "https://example.com/hook");
        assert!(!as_viewer.to_string().contains("endpoint-credential"));
        assert!(!as_viewer
            .to_string()
            .contains(created["secret"].as_str().unwrap()));
    }
}
