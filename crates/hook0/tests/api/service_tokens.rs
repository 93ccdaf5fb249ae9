//! Service tokens and Biscuits: listing, renaming and revoking service tokens (with every token
//! attenuated from them), attenuation to one application or action or date, tokens of another
//! instance or tampered with, the instance's public key, and the authorizer's time budget.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn service_tokens_are_listed_renamed_and_revoked_with_their_attenuations() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    let key = app.public_key().await;
    let (token_id, biscuit) = app.service_token(&org.organization_id, "CI").await;
    let attenuated = attenuate(&biscuit, key, &only_application(&org.application_id));
    assert_eq!(revocation_id(&attenuated), revocation_id(&biscuit));

    let by_org = format!("organization_id={}", org.organization_id);
    let listed = expect_json(app.get(&format!("/service_token?{by_org}")).await, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    for field in ["token_id", "name", "biscuit", "created_at"] {
        assert!(!listed[0][field].is_null(), "ServiceToken.{field}");
    }
    // The Biscuit is handed out once, by the creation: a list hands out no credential.
    assert_eq!(listed[0]["biscuit"], "");
    let renamed = expect_json(
        app.put(
            &format!("/service_token/{token_id}"),
            &json!({ "organization_id": org.organization_id, "name": "Deploys" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Deploys");
    assert_eq!(renamed["biscuit"], "");
    let fetched = expect_json(
        app.get(&format!("/service_token/{token_id}?{by_org}"))
            .await,
        200,
    )
    .await;
    assert_eq!(fetched["name"], "Deploys");

    // The service token acts on its organization; the attenuated one on its application.
    let apps = format!("/applications?{by_org}");
    expect_json(app.with_token(&biscuit).get(&apps).await, 200).await;
    let types = format!("/event_types?application_id={}", org.application_id);
    expect_json(app.with_token(&attenuated).get(&types).await, 200).await;
    let orgs = expect_json(app.with_token(&biscuit).get("/organizations").await, 200).await;
    assert_eq!(orgs[0]["organization_id"], org.organization_id.as_str());
    assert_eq!(orgs[0]["role"], "editor");
    // A service token is no user: no organizations of its own, no logout.
    expect_problem(
        app.with_token(&biscuit)
            .post("/organizations", &json!({ "name": "Mine" }))
            .await,
        403,
        "Forbidden",
    )
    .await;

    // Deleting expires it: the token and every attenuation are refused.
    expect_empty(
        app.delete(&format!("/service_token/{token_id}?{by_org}"))
            .await,
        204,
    )
    .await;
    expect_problem(
        app.with_token(&biscuit).get(&apps).await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    expect_problem(
        app.with_token(&attenuated).get(&types).await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    expect_problem(
        app.get(&format!("/service_token/{token_id}?{by_org}"))
            .await,
        404,
        "NotFound",
    )
    .await;
    expect_problem(
        app.delete(&format!("/service_token/{token_id}?{by_org}"))
            .await,
        404,
        "NotFound",
    )
    .await;
    let listed = expect_json(app.get(&format!("/service_token?{by_org}")).await, 200).await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn a_token_attenuated_to_one_application_ingests_there_and_nowhere_else() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    let other_app = app.create_app(&org.organization_id, "Shipping").await;
    for application_id in [&org.application_id, &other_app] {
        app.create_event_type(application_id, EVENT_TYPE).await;
    }
    let key = app.public_key().await;
    let (_, biscuit) = app.service_token(&org.organization_id, "ingest").await;
    let attenuated = attenuate(&biscuit, key, &only_application(&org.application_id));
    let caller = app.with_token(&attenuated);

    expect_json(
        caller
            .post("/event", &app.event_body(&org.application_id))
            .await,
        201,
    )
    .await;
    expect_problem(
        caller.post("/event", &app.event_body(&other_app)).await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(
        caller
            .get(&format!(
                "/applications?organization_id={}",
                org.organization_id
            ))
            .await,
        403,
        "Forbidden",
    )
    .await;
    // The unattenuated token may ingest into both.
    expect_json(
        app.with_token(&biscuit)
            .post("/event", &app.event_body(&other_app))
            .await,
        201,
    )
    .await;

    // Other attenuations: an action allow-list, and an expiry already past.
    let ingest_only = attenuate(&biscuit, key, r#"check if action("event:ingest");"#);
    expect_json(
        app.with_token(&ingest_only)
            .post("/event", &app.event_body(&other_app))
            .await,
        201,
    )
    .await;
    expect_problem(
        app.with_token(&ingest_only)
            .get(&format!("/events?application_id={other_app}"))
            .await,
        403,
        "Forbidden",
    )
    .await;
    let expired = attenuate(
        &biscuit,
        key,
        "check if time($t), $t < 2020-01-01T00:00:00Z;",
    );
    expect_problem(
        app.with_token(&expired)
            .post("/event", &app.event_body(&org.application_id))
            .await,
        403,
        "Forbidden",
    )
    .await;
    // Labels a subscription may be created with (upstream's `labels` map fact).
    app.create_subscription(&org.application_id, "https://example.com/hook")
        .await;
    let only_tenant = attenuate(
        &biscuit,
        key,
        r#"check if labels($l), $l.get("tenant") == "acme";"#,
    );
    let mut body = app.subscription_body(&org.application_id, "https://example.com/hook");
    expect_json(
        app.with_token(&only_tenant)
            .post("/subscriptions", &body)
            .await,
        201,
    )
    .await;
    body["labels"] = json!({ "tenant": "globex" });
    expect_problem(
        app.with_token(&only_tenant)
            .post("/subscriptions", &body)
            .await,
        403,
        "Forbidden",
    )
    .await;
}

#[tokio::test]
async fn tokens_of_another_instance_or_kind_are_invalid_biscuits() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let other = spawn_app_with(|c| c.run_worker = false).await;
    let org = other.create_org_app().await;
    let (_, foreign) = other.service_token(&org.organization_id, "elsewhere").await;
    expect_problem(
        app.with_token(&foreign).get("/organizations").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    // Tampering with a token breaks its signature.
    let mut tampered = foreign.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    expect_problem(
        other
            .with_token(std::str::from_utf8(&tampered).unwrap())
            .get("/organizations")
            .await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
}

#[tokio::test]
async fn the_instance_publishes_its_biscuit_public_key() {
    let key = hook0_api::BiscuitKey::generate();
    let expected = key.public_hex();
    let app = spawn_app_with(move |c| {
        c.run_worker = false;
        c.api.biscuit_key = key;
        c.api.password_minimum_length = 14;
    })
    .await;
    let instance = expect_json(app.anonymous().get("/instance").await, 200).await;
    assert_eq!(instance["biscuit_public_key"], expected.as_str());
    assert_eq!(expected.len(), 64);
    assert_eq!(instance["password_minimum_length"], 14);
    assert_eq!(instance["registration_disabled"], false);
}

#[tokio::test]
async fn an_authorizer_out_of_time_answers_503() {
    let app = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.max_authorization_time = Duration::from_nanos(1);
    })
    .await;
    let org = app.create_org_app().await;
    let (_, biscuit) = app.service_token(&org.organization_id, "slow").await;
    let answer = app
        .with_token(&biscuit)
        .get(&format!(
            "/applications?organization_id={}",
            org.organization_id
        ))
        .await;
    assert_eq!(answer.headers()["retry-after"], "5");
    expect_problem(answer, 503, "ServiceUnavailable").await;
}
