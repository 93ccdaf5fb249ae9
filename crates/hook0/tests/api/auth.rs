//! Authentication (`Authorization: Bearer <master key | application secret>`) and the scope of
//! each principal.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn a_missing_authorization_header_is_401() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let anonymous = app.anonymous();
    expect_problem(
        anonymous.get("/organizations").await,
        401,
        "AuthNoAuthorizationHeader",
    )
    .await;
    let path = format!("/event_types?application_id={}", org.application_id);
    expect_problem(anonymous.get(&path).await, 401, "AuthNoAuthorizationHeader").await;
    expect_problem(
        anonymous
            .post("/event", &app.event_body(&org.application_id))
            .await,
        401,
        "AuthNoAuthorizationHeader",
    )
    .await;
}

#[tokio::test]
async fn a_token_that_is_no_uuid_is_an_invalid_biscuit() {
    let app = spawn_app().await;

    for token in [
        "garbage",
        "En0CCrIBCgV1c2VyEgAaIAoeCAQSAggAEgIIBRICCAIaIgog",
        "",
    ] {
        let answer = app.with_token(token).get("/organizations").await;
        expect_problem(answer, 403, "AuthInvalidBiscuit").await;
    }
}

#[tokio::test]
async fn an_unknown_uuid_is_an_invalid_application_secret() {
    let app = spawn_app().await;

    let answer = app
        .with_token(&Uuid::new_v4().to_string())
        .get("/organizations")
        .await;
    expect_problem(answer, 403, "AuthInvalidApplicationSecret").await;
}

#[tokio::test]
async fn the_bearer_prefix_is_optional() {
    let app = spawn_app().await;

    expect_json(
        app.with_authorization(&app.master_key.to_string())
            .get("/organizations")
            .await,
        200,
    )
    .await;
    expect_json(
        app.with_authorization(&format!("Bearer {}", app.master_key))
            .get("/organizations")
            .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn the_master_key_reaches_every_organization_and_application() {
    let app = spawn_app().await;
    let first = app.create_org_app().await;
    let second = app.create_org_app().await;

    for org in [&first, &second] {
        expect_json(
            app.get(&format!("/organizations/{}", org.organization_id))
                .await,
            200,
        )
        .await;
        expect_json(
            app.get(&format!("/applications/{}", org.application_id))
                .await,
            200,
        )
        .await;
        expect_json(
            app.get(&format!(
                "/subscriptions?application_id={}",
                org.application_id
            ))
            .await,
            200,
        )
        .await;
    }
}

#[tokio::test]
async fn without_a_master_key_configured_no_uuid_is_master() {
    let app = spawn_app_with(|cfg| cfg.api.master_api_key = None).await;

    let answer = app.get("/organizations").await;
    expect_problem(answer, 403, "AuthInvalidApplicationSecret").await;
}

#[tokio::test]
async fn an_application_secret_acts_on_its_own_application_only() {
    let app = spawn_app().await;
    let mine = app.create_org_app().await;
    let theirs = app.create_org_app().await;
    app.create_event_type(&theirs.application_id, EVENT_TYPE)
        .await;
    let as_mine = app.with_token(&mine.secret);

    // Everything application-scoped works on its own application...
    expect_json(as_mine.post("/event_types", &json!({
        "application_id": mine.application_id, "service": "billing", "resource_type": "invoice", "verb": "paid"
    })).await, 201).await;
    expect_json(
        as_mine
            .post("/event", &app.event_body(&mine.application_id))
            .await,
        201,
    )
    .await;
    expect_json(
        as_mine
            .get(&format!("/events?application_id={}", mine.application_id))
            .await,
        200,
    )
    .await;
    // ...and nothing on another one, even an existing one in another organization.
    expect_problem(
        as_mine
            .post("/event", &app.event_body(&theirs.application_id))
            .await,
        403,
        "Forbidden",
    )
    .await;
    let types = as_mine
        .get(&format!(
            "/event_types?application_id={}",
            theirs.application_id
        ))
        .await;
    expect_problem(types, 403, "Forbidden").await;
    // Nor on organizations, even its own.
    let own_org = as_mine
        .get(&format!("/organizations/{}", mine.organization_id))
        .await;
    expect_problem(own_org, 403, "Forbidden").await;
    expect_problem(as_mine.get("/organizations").await, 403, "Forbidden").await;
}

#[tokio::test]
async fn unknown_applications_are_forbidden_for_every_principal() {
    let app = spawn_app().await;
    let mine = app.create_org_app().await;
    let unknown = Uuid::new_v4();

    for caller in [app.master(), app.with_token(&mine.secret)] {
        let answer = caller
            .get(&format!("/events?application_id={unknown}"))
            .await;
        expect_problem(answer, 403, "Forbidden").await;
        let answer = caller
            .post("/event", &app.event_body(&unknown.to_string()))
            .await;
        expect_problem(answer, 403, "Forbidden").await;
    }
}

#[tokio::test]
async fn application_secrets_can_be_switched_off() {
    let app = spawn_app_with(|cfg| cfg.api.application_secret_compatibility = false).await;
    let org = app.create_org_app().await;

    let answer = app
        .with_token(&org.secret)
        .get(&format!("/applications/{}", org.application_id))
        .await;
    expect_problem(answer, 403, "AuthInvalidApplicationSecret").await;
    let instance = expect_json(app.anonymous().get("/instance").await, 200).await;
    assert_eq!(instance["application_secret_compatibility"], false);
}

#[tokio::test]
async fn authentication_comes_before_body_parsing() {
    let app = spawn_app().await;

    let answer = app
        .anonymous()
        .request(reqwest::Method::POST, "/event")
        .header("Content-Type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap();
    expect_problem(answer, 401, "AuthNoAuthorizationHeader").await;
}
