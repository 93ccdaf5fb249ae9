//! `GET /events_per_day/{application,organization}`: upstream's shape and defaults, today's
//! count provisional, a reversed range refused with 400 `InvalidDateRange`, tenants apart.

use chrono::{Duration, Utc};

use crate::helpers::*;

#[tokio::test]
async fn events_per_day_counts_today_for_an_application_and_its_organization() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let second = app.create_app(&org.organization_id, "Shipping").await;
    app.create_event_type(&second, EVENT_TYPE).await;
    for _ in 0..3 {
        app.ingest(&org.application_id).await;
    }
    app.ingest(&second).await;

    let today = Utc::now().date_naive().to_string();
    let days = expect_json(
        app.get(&format!(
            "/events_per_day/application?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    let days = days.as_array().unwrap();
    assert_eq!(days.len(), 1, "{days:?}");
    assert_fields(
        &days[0],
        &[
            "application_id",
            "application_name",
            "date",
            "amount",
            "is_provisional",
        ],
    );
    assert_eq!(days[0]["application_id"], org.application_id.as_str());
    assert_eq!(days[0]["application_name"], "Billing");
    assert_eq!(days[0]["date"], today.as_str());
    assert_eq!(days[0]["amount"], 3);
    assert_eq!(days[0]["is_provisional"], true);

    let days = expect_json(
        app.get(&format!(
            "/events_per_day/organization?organization_id={}&from={today}&to={today}",
            org.organization_id
        ))
        .await,
        200,
    )
    .await;
    let mut amounts: Vec<(String, i64)> = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["application_name"].as_str().unwrap().to_owned(),
                d["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    amounts.sort();
    assert_eq!(amounts, [("Billing".into(), 3), ("Shipping".into(), 1)]);

    // The same count is the application's and the organization's consumption.
    let info = expect_json(
        app.get(&format!("/applications/{}", org.application_id))
            .await,
        200,
    )
    .await;
    assert_eq!(info["consumption"]["events_per_day"], 3);
    let info = expect_json(
        app.get(&format!("/organizations/{}", org.organization_id))
            .await,
        200,
    )
    .await;
    assert_eq!(info["consumption"]["events_per_day"], 4);

    // A range that ended yesterday holds nothing.
    let yesterday = (Utc::now() - Duration::days(1)).date_naive();
    let days = expect_json(
        app.get(&format!(
            "/events_per_day/application?application_id={}&to={yesterday}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(days, serde_json::json!([]));
}

#[tokio::test]
async fn a_reversed_range_is_400_and_other_tenants_are_403() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    expect_problem(
        app.get(&format!(
            "/events_per_day/application?application_id={}&from=2026-03-02&to=2026-03-01",
            org.application_id
        ))
        .await,
        400,
        "InvalidDateRange",
    )
    .await;
    expect_problem(
        app.get(&format!(
            "/events_per_day/organization?organization_id={}&from=2026-03-02&to=2026-03-01",
            org.organization_id
        ))
        .await,
        400,
        "InvalidDateRange",
    )
    .await;

    // Another organization's application secret cannot read these counts.
    let other = app.create_org_app().await;
    expect_problem(
        app.with_token(&other.secret)
            .get(&format!(
                "/events_per_day/application?application_id={}",
                org.application_id
            ))
            .await,
        403,
        "Forbidden",
    )
    .await;
}
