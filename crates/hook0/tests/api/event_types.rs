//! `/event_types`: idempotent create (201 every time, re-activates), list by name, get,
//! delete (deactivates).

use serde_json::json;

use crate::helpers::*;

const EVENT_TYPE_FIELDS: [&str; 4] = [
    "service_name",
    "resource_type_name",
    "verb_name",
    "event_type_name",
];

fn post(application_id: &str, service: &str, resource_type: &str, verb: &str) -> serde_json::Value {
    json!({ "application_id": application_id, "service": service, "resource_type": resource_type, "verb": verb })
}

#[tokio::test]
async fn create_answers_201_with_the_event_type() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let created = expect_json(
        app.post(
            "/event_types",
            &post(&org.application_id, "billing", "invoice", "paid"),
        )
        .await,
        201,
    )
    .await;

    assert_fields(&created, &EVENT_TYPE_FIELDS);
    assert_eq!(
        created,
        json!({
            "service_name": "billing",
            "resource_type_name": "invoice",
            "verb_name": "paid",
            "event_type_name": "billing.invoice.paid",
        })
    );
}

#[tokio::test]
async fn create_is_an_idempotent_upsert() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    let body = post(&org.application_id, "billing", "invoice", "paid");

    expect_json(app.post("/event_types", &body).await, 201).await;
    expect_json(app.post("/event_types/", &body).await, 201).await;

    let listed = expect_json(
        app.get(&format!(
            "/event_types?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_validates_each_part() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    let empty = app
        .post(
            "/event_types",
            &post(&org.application_id, "", "invoice", "paid"),
        )
        .await;
    let problem = expect_problem(empty, 422, "Validation").await;
    assert!(problem["validation"]["service"].is_array(), "{problem}");

    let long = app
        .post(
            "/event_types",
            &post(&org.application_id, "billing", &"r".repeat(51), "paid"),
        )
        .await;
    let problem = expect_problem(long, 422, "Validation").await;
    assert!(
        problem["validation"]["resource_type"].is_array(),
        "{problem}"
    );

    let control = app
        .post(
            "/event_types",
            &post(&org.application_id, "billing", "invoice", "pa\nid"),
        )
        .await;
    let problem = expect_problem(control, 422, "Validation").await;
    assert!(problem["validation"]["verb"].is_array(), "{problem}");

    // Unicode (two spellings of `café`), spaces and dots are refused; nothing is created.
    for (service, verb) in [
        ("caf\u{e9}", "paid"),
        ("cafe\u{301}", "paid"),
        ("billing", "paid now"),
        ("bill.ing", "paid"),
    ] {
        let refused = app
            .post(
                "/event_types",
                &post(&org.application_id, service, "invoice", verb),
            )
            .await;
        expect_problem(refused, 422, "Validation").await;
    }
    let listed = expect_json(
        app.get(&format!(
            "/event_types?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, serde_json::json!([]));
    // Upstream's usual names pass.
    app.create_event_type(&org.application_id, "billing-v2.invoice_line.paid")
        .await;
}

#[tokio::test]
async fn list_shows_active_types_ordered_by_name() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    for name in [
        "shipping.parcel.sent",
        "billing.invoice.paid",
        "billing.invoice.created",
    ] {
        app.create_event_type(&org.application_id, name).await;
    }

    let listed = expect_json(
        app.get(&format!(
            "/event_types?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;

    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event_type_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "billing.invoice.created",
            "billing.invoice.paid",
            "shipping.parcel.sent"
        ]
    );
    listed
        .as_array()
        .unwrap()
        .iter()
        .for_each(|t| assert_fields(t, &EVENT_TYPE_FIELDS));
}

#[tokio::test]
async fn list_needs_the_application_id() {
    let app = spawn_app().await;

    expect_problem(app.get("/event_types").await, 422, "Validation").await;
    expect_problem(
        app.get("/event_types?application_id=42").await,
        422,
        "Validation",
    )
    .await;
}

#[tokio::test]
async fn get_answers_one_type_or_404() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;

    let fetched = app
        .get(&format!(
            "/event_types/{EVENT_TYPE}?application_id={}",
            org.application_id
        ))
        .await;
    assert_eq!(
        expect_json(fetched, 200).await["event_type_name"],
        EVENT_TYPE
    );

    let unknown = app
        .get(&format!(
            "/event_types/no.such.type?application_id={}",
            org.application_id
        ))
        .await;
    expect_problem(unknown, 404, "NotFound").await;
}

#[tokio::test]
async fn delete_deactivates_and_create_reactivates() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let path = format!(
        "/event_types/{EVENT_TYPE}?application_id={}",
        org.application_id
    );

    expect_empty(app.delete(&path).await, 204).await;

    expect_problem(app.get(&path).await, 404, "NotFound").await;
    let listed = expect_json(
        app.get(&format!(
            "/event_types?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]));
    expect_problem(app.delete(&path).await, 404, "NotFound").await;

    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    expect_json(app.get(&path).await, 200).await;
}

#[tokio::test]
async fn event_types_of_another_application_are_forbidden() {
    let app = spawn_app().await;
    let mine = app.create_org_app().await;
    let theirs = app.create_org_app().await;
    let as_mine = app.with_token(&mine.secret);

    let create = as_mine
        .post(
            "/event_types",
            &post(&theirs.application_id, "billing", "invoice", "paid"),
        )
        .await;
    expect_problem(create, 403, "Forbidden").await;
    let list = as_mine
        .get(&format!(
            "/event_types?application_id={}",
            theirs.application_id
        ))
        .await;
    expect_problem(list, 403, "Forbidden").await;
    let own = as_mine
        .post(
            "/event_types",
            &post(&mine.application_id, "billing", "invoice", "paid"),
        )
        .await;
    expect_json(own, 201).await;
}
