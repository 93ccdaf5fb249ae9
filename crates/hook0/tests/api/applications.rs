//! `/applications`: CRUD, the `Default` secret made with each application, soft delete.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

const APPLICATION: [&str; 3] = ["application_id", "organization_id", "name"];

#[tokio::test]
async fn create_answers_201_with_the_application() {
    let app = spawn_app().await;
    let org = app.create_org("Acme").await;

    let body = json!({ "organization_id": org, "name": "Billing" });
    let created = expect_json(app.post("/applications", &body).await, 201).await;

    assert_fields(&created, &APPLICATION);
    assert_uuid(&created["application_id"], 4);
    assert_eq!(created["organization_id"], org.as_str());
    assert_eq!(created["name"], "Billing");
}

#[tokio::test]
async fn every_new_application_gets_a_default_secret_that_authenticates() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let secrets = expect_json(
        app.get(&format!(
            "/application_secrets?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(secrets.as_array().unwrap().len(), 1);
    assert_eq!(secrets[0]["name"], "Default");

    let own = app
        .with_token(&org.secret)
        .get(&format!("/applications/{}", org.application_id))
        .await;
    expect_json(own, 200).await;
}

#[tokio::test]
async fn create_validates_the_name() {
    let app = spawn_app().await;
    let org = app.create_org("Acme").await;

    let short = app
        .post(
            "/applications",
            &json!({ "organization_id": org, "name": "B" }),
        )
        .await;
    let problem = expect_problem(short, 422, "Validation").await;
    assert!(problem["validation"]["name"].is_array(), "{problem}");

    let missing = app
        .post("/applications", &json!({ "organization_id": org }))
        .await;
    expect_problem(missing, 400, "JsonPayload").await;
}

#[tokio::test]
async fn create_in_an_unknown_organization_is_forbidden() {
    let app = spawn_app().await;

    let body = json!({ "organization_id": Uuid::new_v4(), "name": "Billing" });
    expect_problem(app.post("/applications", &body).await, 403, "Forbidden").await;
}

#[tokio::test]
async fn list_shows_the_live_applications_of_an_organization() {
    let app = spawn_app().await;
    let org = app.create_org("Acme").await;
    let billing = app.create_app(&org, "Billing").await;
    let shipping = app.create_app(&org, "Shipping").await;
    let other_org = app.create_org("Other").await;
    app.create_app(&other_org, "Elsewhere").await;

    let apps = expect_json(
        app.get(&format!("/applications?organization_id={org}"))
            .await,
        200,
    )
    .await;

    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 2);
    apps.iter().for_each(|a| assert_fields(a, &APPLICATION));
    let ids: Vec<&str> = apps
        .iter()
        .map(|a| a["application_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&billing.as_str()) && ids.contains(&shipping.as_str()));
}

#[tokio::test]
async fn list_needs_a_valid_organization_id_query_parameter() {
    let app = spawn_app().await;

    expect_problem(app.get("/applications").await, 422, "Validation").await;
    expect_problem(
        app.get("/applications?organization_id=nope").await,
        422,
        "Validation",
    )
    .await;
}

#[tokio::test]
async fn get_answers_the_application_info_with_onboarding_steps() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let path = format!("/applications/{}", org.application_id);

    let info = expect_json(app.get(&path).await, 200).await;
    assert_fields(
        &info,
        &[
            "application_id",
            "organization_id",
            "name",
            "quotas",
            "consumption",
            "onboarding_steps",
        ],
    );
    assert_fields(
        &info["quotas"],
        &["events_per_day_limit", "days_of_events_retention_limit"],
    );
    assert_fields(&info["consumption"], &["events_per_day"]);
    assert_eq!(
        info["onboarding_steps"],
        json!({ "event_type": "ToDo", "subscription": "ToDo", "event": "ToDo" })
    );

    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    app.create_subscription(&org.application_id, "http://127.0.0.1:9/hook")
        .await;
    app.ingest(&org.application_id).await;

    let info = expect_json(app.get(&path).await, 200).await;
    assert_eq!(
        info["onboarding_steps"],
        json!({ "event_type": "Done", "subscription": "Done", "event": "Done" })
    );
    assert_eq!(info["consumption"]["events_per_day"], 1);
}

#[tokio::test]
async fn update_renames_the_application() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let path = format!("/applications/{}", org.application_id);

    let body = json!({ "organization_id": org.organization_id, "name": "Invoicing" });
    let updated = expect_json(app.put(&path, &body).await, 200).await;

    assert_fields(&updated, &APPLICATION);
    assert_eq!(updated["name"], "Invoicing");
    assert_eq!(
        expect_json(app.get(&path).await, 200).await["name"],
        "Invoicing"
    );

    let invalid = app
        .put(
            &path,
            &json!({ "organization_id": org.organization_id, "name": "I" }),
        )
        .await;
    expect_problem(invalid, 422, "Validation").await;
}

#[tokio::test]
async fn delete_is_soft_and_the_application_becomes_forbidden() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let path = format!("/applications/{}", org.application_id);

    expect_empty(app.delete(&path).await, 204).await;

    expect_problem(app.get(&path).await, 403, "Forbidden").await;
    expect_problem(app.delete(&path).await, 403, "Forbidden").await;
    let listed = expect_json(
        app.get(&format!(
            "/applications?organization_id={}",
            org.organization_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]));
    // Its secrets stop authenticating.
    let as_app = app.with_token(&org.secret).get(&path).await;
    expect_problem(as_app, 403, "AuthInvalidApplicationSecret").await;
    // The organization still exists and still answers.
    expect_json(
        app.get(&format!("/organizations/{}", org.organization_id))
            .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn delete_fails_the_pending_attempts_of_the_application() {
    let app = spawn_app_with(|cfg| cfg.run_worker = false).await;
    let wired = app.wire("http://127.0.0.1:9/hook").await;
    let event = app.ingest(&wired.application_id).await;
    let event_id = event["event_id"].as_str().unwrap();
    let pending = app.event_attempts(&wired.application_id, event_id).await;
    assert_eq!(pending[0]["status"]["type"], "pending");

    expect_empty(
        app.delete(&format!("/applications/{}", wired.application_id))
            .await,
        204,
    )
    .await;

    // The history stays in the store; the attempt is no longer due.
    let due = app.store.next_due_at().await.unwrap();
    assert!(
        due.is_none(),
        "a deleted application's attempts are never delivered"
    );
}

#[tokio::test]
async fn unknown_applications_are_forbidden_not_missing() {
    let app = spawn_app().await;

    let unknown = Uuid::new_v4();
    expect_problem(
        app.get(&format!("/applications/{unknown}")).await,
        403,
        "Forbidden",
    )
    .await;
    let body = json!({ "organization_id": Uuid::new_v4(), "name": "Ghost" });
    expect_problem(
        app.put(&format!("/applications/{unknown}"), &body).await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(
        app.delete(&format!("/applications/{unknown}")).await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(app.get("/applications/not-a-uuid").await, 404, "NotFound").await;
}

#[tokio::test]
async fn an_application_secret_only_reaches_its_own_application() {
    let app = spawn_app().await;
    let mine = app.create_org_app().await;
    let theirs = app.create_org_app().await;
    let as_mine = app.with_token(&mine.secret);

    expect_json(
        as_mine
            .get(&format!("/applications/{}", mine.application_id))
            .await,
        200,
    )
    .await;
    let path = format!("/applications/{}", theirs.application_id);
    expect_problem(as_mine.get(&path).await, 403, "Forbidden").await;
    let body = json!({ "organization_id": theirs.organization_id, "name": "Hijacked" });
    expect_problem(as_mine.put(&path, &body).await, 403, "Forbidden").await;
    expect_problem(as_mine.delete(&path).await, 403, "Forbidden").await;
    // Listing and creating applications are organization-level actions.
    let list = as_mine
        .get(&format!(
            "/applications?organization_id={}",
            mine.organization_id
        ))
        .await;
    expect_problem(list, 403, "Forbidden").await;
    let create = as_mine
        .post(
            "/applications",
            &json!({ "organization_id": mine.organization_id, "name": "Another" }),
        )
        .await;
    expect_problem(create, 403, "Forbidden").await;
}
