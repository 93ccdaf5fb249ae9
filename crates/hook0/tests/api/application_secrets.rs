//! `/application_secrets`: list, create, rename, delete; a secret authenticates as its
//! application until it is deleted.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

const SECRET: [&str; 4] = ["name", "token", "created_at", "deleted_at"];

#[tokio::test]
async fn list_shows_the_live_secrets_oldest_first() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let body = json!({ "application_id": org.application_id, "name": "CI" });
    expect_json(app.post("/application_secrets", &body).await, 201).await;

    let secrets = expect_json(
        app.get(&format!(
            "/application_secrets?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;

    let secrets = secrets.as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    secrets.iter().for_each(|s| assert_fields(s, &SECRET));
    assert_eq!(secrets[0]["name"], "Default");
    assert_eq!(secrets[0]["token"], org.secret.as_str());
    assert!(secrets[0]["deleted_at"].is_null());
    assert_eq!(secrets[1]["name"], "CI");
}

#[tokio::test]
async fn create_answers_201_and_the_new_token_authenticates() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let body = json!({ "application_id": org.application_id, "name": "Deploy bot" });
    let created = expect_json(app.post("/application_secrets", &body).await, 201).await;

    assert_fields(&created, &SECRET);
    assert_uuid(&created["token"], 4);
    assert_eq!(created["name"], "Deploy bot");
    time(&created["created_at"]);
    let token = created["token"].as_str().unwrap();
    expect_json(
        app.with_token(token)
            .get(&format!("/applications/{}", org.application_id))
            .await,
        200,
    )
    .await;

    // The name is optional.
    let unnamed = app
        .post(
            "/application_secrets",
            &json!({ "application_id": org.application_id }),
        )
        .await;
    assert!(expect_json(unnamed, 201).await["name"].is_null());
}

#[tokio::test]
async fn create_validates_the_name() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let body = json!({ "application_id": org.application_id, "name": "n".repeat(51) });
    let problem = expect_problem(
        app.post("/application_secrets", &body).await,
        422,
        "Validation",
    )
    .await;
    assert!(problem["validation"]["name"].is_array(), "{problem}");
}

#[tokio::test]
async fn update_renames_a_secret() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let body = json!({ "application_id": org.application_id, "name": "Production" });
    let renamed = expect_json(
        app.put(&format!("/application_secrets/{}", org.secret), &body)
            .await,
        200,
    )
    .await;

    assert_fields(&renamed, &SECRET);
    assert_eq!(renamed["name"], "Production");
    assert_eq!(renamed["token"], org.secret.as_str());

    let unknown = app
        .put(&format!("/application_secrets/{}", Uuid::new_v4()), &body)
        .await;
    expect_problem(unknown, 404, "NotFound").await;
}

#[tokio::test]
async fn delete_revokes_the_secret() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let path = format!(
        "/application_secrets/{}?application_id={}",
        org.secret, org.application_id
    );

    expect_empty(app.delete(&path).await, 204).await;

    let refused = app
        .with_token(&org.secret)
        .get(&format!("/applications/{}", org.application_id))
        .await;
    expect_problem(refused, 403, "AuthInvalidApplicationSecret").await;
    let secrets = expect_json(
        app.get(&format!(
            "/application_secrets?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(secrets, json!([]));
    expect_problem(app.delete(&path).await, 404, "NotFound").await;
}

#[tokio::test]
async fn delete_needs_the_application_id() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    expect_problem(
        app.delete(&format!("/application_secrets/{}", org.secret))
            .await,
        422,
        "Validation",
    )
    .await;
    expect_problem(
        app.delete("/application_secrets/xyz?application_id=x")
            .await,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn secrets_of_another_application_are_forbidden() {
    let app = spawn_app().await;
    let mine = app.create_org_app().await;
    let theirs = app.create_org_app().await;
    let as_mine = app.with_token(&mine.secret);

    let list = as_mine
        .get(&format!(
            "/application_secrets?application_id={}",
            theirs.application_id
        ))
        .await;
    expect_problem(list, 403, "Forbidden").await;
    let create = as_mine
        .post(
            "/application_secrets",
            &json!({ "application_id": theirs.application_id }),
        )
        .await;
    expect_problem(create, 403, "Forbidden").await;
    let delete = as_mine
        .delete(&format!(
            "/application_secrets/{}?application_id={}",
            theirs.secret, theirs.application_id
        ))
        .await;
    expect_problem(delete, 403, "Forbidden").await;
    // Its own secrets it may manage.
    let own = as_mine
        .get(&format!(
            "/application_secrets?application_id={}",
            mine.application_id
        ))
        .await;
    expect_json(own, 200).await;
}
