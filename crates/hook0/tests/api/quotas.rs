//! Quotas: off by default (everything unlimited, `GET /quotas` says so); with enforcement, each
//! limit reached answers 429 with its problem id and changes nothing.

use hook0_core::quota::{GlobalLimits, Quotas};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn without_enforcement_nothing_is_limited_and_quotas_say_so() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let quotas = expect_json(app.anonymous().get("/quotas").await, 200).await;
    assert_eq!(quotas["enabled"], false);
    for (_, limit) in quotas["limits"].as_object().unwrap() {
        assert_eq!(*limit, i32::MAX);
    }
    let instance = expect_json(app.anonymous().get("/instance").await, 200).await;
    assert_eq!(instance["quota_enforcement"], false);

    let org = app.create_org_app().await;
    for name in ["Two", "Three"] {
        app.create_app(&org.organization_id, name).await;
    }
    for i in 0..12 {
        app.create_event_type(&org.application_id, &format!("billing.invoice.v{i}"))
            .await;
    }
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    for _ in 0..12 {
        app.create_subscription(&org.application_id, "http://127.0.0.1:9/hook")
            .await;
    }
    for _ in 0..101 {
        app.ingest(&org.application_id).await;
    }
    let info = expect_json(
        app.get(&format!("/organizations/{}", org.organization_id))
            .await,
        200,
    )
    .await;
    assert_eq!(info["quotas"]["events_per_day_limit"], i32::MAX);
    assert_eq!(info["consumption"]["events_per_day"], 101);
}

fn small_limits() -> Quotas {
    Quotas::enforced(GlobalLimits {
        members_per_organization: 1,
        applications_per_organization: 1,
        events_per_day: 2,
        days_of_events_retention: 7,
        subscriptions_per_application: 1,
        event_types_per_application: 1,
    })
}

#[tokio::test]
async fn each_limit_reached_is_a_429_with_its_id_and_changes_nothing() {
    let app = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.quotas = small_limits();
    })
    .await;
    let quotas = expect_json(app.anonymous().get("/quotas").await, 200).await;
    assert_eq!(quotas["enabled"], true);
    assert_eq!(quotas["limits"]["global_events_per_day_limit"], 2);
    assert_eq!(
        quotas["limits"]["global_applications_per_organization_limit"],
        1
    );
    let instance = expect_json(app.anonymous().get("/instance").await, 200).await;
    assert_eq!(instance["quota_enforcement"], true);

    // Applications per organization.
    let org = app.create_org_app().await;
    expect_problem(
        app.post(
            "/applications",
            &json!({ "organization_id": org.organization_id, "name": "Second" }),
        )
        .await,
        429,
        "TooManyApplicationsPerOrganization",
    )
    .await;
    let apps = expect_json(
        app.get(&format!(
            "/applications?organization_id={}",
            org.organization_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(apps.as_array().unwrap().len(), 1);

    // Event types per application (creating the same one again is not a new one).
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let other = json!({ "application_id": org.application_id, "service": "billing",
        "resource_type": "invoice", "verb": "voided" });
    expect_problem(
        app.post("/event_types", &other).await,
        429,
        "TooManyEventTypesPerApplication",
    )
    .await;

    // Subscriptions per application.
    app.create_subscription(&org.application_id, "http://127.0.0.1:9/hook")
        .await;
    let body = app.subscription_body(&org.application_id, "http://127.0.0.1:9/other");
    expect_problem(
        app.post("/subscriptions", &body).await,
        429,
        "TooManySubscriptionsPerApplication",
    )
    .await;
    let subs = expect_json(
        app.get(&format!(
            "/subscriptions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(subs.as_array().unwrap().len(), 1);

    // Events per day: exactly the limit, then 429; nothing stored, nothing delivered.
    app.ingest(&org.application_id).await;
    app.ingest(&org.application_id).await;
    let refused = app.event_body(&org.application_id);
    expect_problem(
        app.post("/event", &refused).await,
        429,
        "TooManyEventsToday",
    )
    .await;
    let events = expect_json(
        app.get(&format!("/events?application_id={}", org.application_id))
            .await,
        200,
    )
    .await;
    assert_eq!(events.as_array().unwrap().len(), 2);
    let info = expect_json(
        app.get(&format!("/applications/{}", org.application_id))
            .await,
        200,
    )
    .await;
    assert_eq!(info["quotas"]["events_per_day_limit"], 2);
    assert_eq!(info["quotas"]["days_of_events_retention_limit"], 7);
    assert_eq!(info["consumption"]["events_per_day"], 2);

    // Members per organization.
    app.register("first@example.com").await;
    app.register("second@example.com").await;
    app.invite(&org.organization_id, "first@example.com", "viewer")
        .await;
    expect_problem(
        app.post(
            &format!("/organizations/{}/invite", org.organization_id),
            &json!({ "email": "second@example.com", "role": "viewer" }),
        )
        .await,
        429,
        "TooManyMembersPerOrganization",
    )
    .await;
    let info = expect_json(
        app.get(&format!("/organizations/{}", org.organization_id))
            .await,
        200,
    )
    .await;
    assert_eq!(info["users"].as_array().unwrap().len(), 1);
    assert_eq!(info["quotas"]["members_per_organization_limit"], 1);

    // Retention: an application may not keep events longer than the quota.
    let too_long =
        json!({ "organization_id": org.organization_id, "name": "Billing", "retention_days": 30 });
    expect_problem(
        app.put(&format!("/applications/{}", org.application_id), &too_long)
            .await,
        422,
        "Validation",
    )
    .await;
}
