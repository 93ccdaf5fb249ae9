//! `/organizations`: list, get, create (200, not 201), edit, delete (409 while not empty).

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const ORGANIZATION_INFO: [&str; 7] = [
    "organization_id",
    "name",
    "plan",
    "users",
    "quotas",
    "consumption",
    "onboarding_steps",
];

#[tokio::test]
async fn create_answers_200_with_the_organization_info() {
    let app = spawn_app().await;

    let org = expect_json(
        app.post("/organizations", &json!({ "name": "Acme Corp" }))
            .await,
        200,
    )
    .await;

    assert_fields(&org, &ORGANIZATION_INFO);
    assert_uuid(&org["organization_id"], 4);
    assert_eq!(org["name"], "Acme Corp");
    assert!(org["plan"].is_null());
    assert!(org["users"].is_array());
    assert_fields(
        &org["quotas"],
        &[
            "members_per_organization_limit",
            "applications_per_organization_limit",
            "events_per_day_limit",
            "days_of_events_retention_limit",
        ],
    );
    assert_fields(
        &org["consumption"],
        &["members", "applications", "events_per_day"],
    );
    assert_eq!(org["consumption"]["applications"], 0);
    assert_eq!(
        org["onboarding_steps"],
        json!({ "application": "ToDo", "event_type": "ToDo", "subscription": "ToDo", "event": "ToDo" })
    );
}

#[tokio::test]
async fn create_with_an_invalid_name_is_a_validation_problem() {
    let app = spawn_app().await;

    let problem = expect_problem(
        app.post("/organizations", &json!({ "name": "A" })).await,
        422,
        "Validation",
    )
    .await;
    assert!(problem["validation"]["name"].is_array(), "{problem}");

    let long = "x".repeat(51);
    expect_problem(
        app.post("/organizations", &json!({ "name": long })).await,
        422,
        "Validation",
    )
    .await;
}

#[tokio::test]
async fn create_rejects_bodies_that_are_not_json() {
    let app = spawn_app().await;

    let malformed = app
        .request(Method::POST, "/organizations")
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, 400, "JsonPayload").await;

    let no_content_type = app
        .request(Method::POST, "/organizations")
        .body("{\"name\": \"Acme\"}")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(no_content_type, 400, "JsonPayload").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{problem}"
    );

    let wrong_content_type = app
        .request(Method::POST, "/organizations")
        .header("Content-Type", "text/plain")
        .body("{\"name\": \"Acme\"}")
        .send()
        .await
        .unwrap();
    expect_problem(wrong_content_type, 400, "JsonPayload").await;

    let missing_field = app.post("/organizations", &json!({ "nom": "Acme" })).await;
    expect_problem(missing_field, 400, "JsonPayload").await;
}

#[tokio::test]
async fn list_shows_every_organization_to_the_master_key() {
    let app = spawn_app().await;
    let first = app.create_org("First").await;
    let second = app.create_org("Second").await;

    let orgs = expect_json(app.get("/organizations").await, 200).await;

    let orgs = orgs.as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    for org in orgs {
        assert_fields(org, &["organization_id", "name", "role", "plan"]);
        assert_eq!(org["role"], "master");
    }
    let ids: Vec<&str> = orgs
        .iter()
        .map(|o| o["organization_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));
}

#[tokio::test]
async fn get_answers_the_organization_info() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let info = expect_json(
        app.get(&format!("/organizations/{}", org.organization_id))
            .await,
        200,
    )
    .await;

    assert_fields(&info, &ORGANIZATION_INFO);
    assert_eq!(info["organization_id"], org.organization_id.as_str());
    assert_eq!(info["consumption"]["applications"], 1);
    assert_eq!(info["onboarding_steps"]["application"], "Done");
}

#[tokio::test]
async fn get_of_an_unknown_organization_is_forbidden() {
    let app = spawn_app().await;

    let unknown = uuid::Uuid::new_v4();
    expect_problem(
        app.get(&format!("/organizations/{unknown}")).await,
        403,
        "Forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_organization_id_is_not_found() {
    let app = spawn_app().await;

    expect_problem(app.get("/organizations/not-a-uuid").await, 404, "NotFound").await;
}

#[tokio::test]
async fn edit_renames_the_organization() {
    let app = spawn_app().await;
    let id = app.create_org("Old name").await;

    let edited = expect_json(
        app.put(
            &format!("/organizations/{id}"),
            &json!({ "name": "New name" }),
        )
        .await,
        200,
    )
    .await;
    assert_fields(&edited, &ORGANIZATION_INFO);
    assert_eq!(edited["name"], "New name");

    let fetched = expect_json(app.get(&format!("/organizations/{id}/")).await, 200).await;
    assert_eq!(fetched["name"], "New name");

    let invalid = app
        .put(&format!("/organizations/{id}"), &json!({ "name": "N" }))
        .await;
    expect_problem(invalid, 422, "Validation").await;
}

#[tokio::test]
async fn delete_removes_an_empty_organization() {
    let app = spawn_app().await;
    let id = app.create_org("Short-lived").await;

    expect_empty(app.delete(&format!("/organizations/{id}")).await, 204).await;

    expect_problem(
        app.get(&format!("/organizations/{id}")).await,
        403,
        "Forbidden",
    )
    .await;
    let orgs = expect_json(app.get("/organizations").await, 200).await;
    assert_eq!(orgs, json!([]));
}

#[tokio::test]
async fn delete_refuses_an_organization_with_live_applications() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let refused = app
        .delete(&format!("/organizations/{}", org.organization_id))
        .await;
    expect_problem(refused, 409, "OrganizationIsNotEmpty").await;

    // Soft-deleted applications do not count.
    expect_empty(
        app.delete(&format!("/applications/{}", org.application_id))
            .await,
        204,
    )
    .await;
    expect_empty(
        app.delete(&format!("/organizations/{}", org.organization_id))
            .await,
        204,
    )
    .await;
}

#[tokio::test]
async fn application_secrets_may_not_act_on_organizations() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let as_app = app.with_token(&org.secret);
    let path = format!("/organizations/{}", org.organization_id);

    expect_problem(as_app.get("/organizations").await, 403, "Forbidden").await;
    expect_problem(
        as_app
            .post("/organizations", &json!({ "name": "Mine" }))
            .await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(as_app.get(&path).await, 403, "Forbidden").await;
    expect_problem(
        as_app.put(&path, &json!({ "name": "Renamed" })).await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(as_app.delete(&path).await, 403, "Forbidden").await;
}

#[tokio::test]
async fn organizations_require_authentication() {
    let app = spawn_app().await;

    expect_problem(
        app.anonymous().get("/organizations").await,
        401,
        "AuthNoAuthorizationHeader",
    )
    .await;
    let create = app
        .anonymous()
        .post("/organizations", &json!({ "name": "Acme" }))
        .await;
    expect_problem(create, 401, "AuthNoAuthorizationHeader").await;
}
