//! Event type schemas (ours, additive): a JSON Schema (draft 2020-12) checked when set, and
//! every `application/json` payload of the type checked against it at ingest: a mismatch is a
//! 422 naming each failing place, and nothing is stored.

use serde_json::{json, Value};

use crate::helpers::*;

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "required": ["invoice_id", "amount", "lines"],
        "properties": {
            "invoice_id": { "type": "string", "pattern": "^in_" },
            "amount": { "type": "integer", "minimum": 0 },
            "paid_at": { "type": "string", "format": "date-time" },
            "customer": { "type": "object", "properties": { "email": { "type": "string", "format": "email" } } },
            "lines": { "type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["sku", "qty"],
                "properties": { "sku": { "type": "string" }, "qty": { "type": "integer", "minimum": 1 } }
            } }
        }
    })
}

/// An application whose [`EVENT_TYPE`] carries `schema`.
async fn typed_app(app: &TestApp, schema: Value) -> OrgApp {
    let org = app.create_org_app().await;
    let body = json!({
        "application_id": org.application_id,
        "service": "billing", "resource_type": "invoice", "verb": "paid",
        "schema": schema,
    });
    let created = expect_json(app.post("/event_types", &body).await, 201).await;
    assert_eq!(created["schema"], body["schema"]);
    org
}

fn event(application_id: &str, payload: Value) -> Value {
    json!({
        "application_id": application_id,
        "event_type": EVENT_TYPE,
        "payload": payload.to_string(),
        "payload_content_type": "application/json",
        "labels": { "tenant": "acme" },
        "occurred_at": chrono::Utc::now(),
    })
}

async fn stored_events(app: &TestApp, application_id: &str) -> usize {
    let events = expect_json(
        app.get(&format!("/events?application_id={application_id}"))
            .await,
        200,
    )
    .await;
    events.as_array().unwrap().len()
}

#[tokio::test]
async fn a_schema_that_is_not_valid_json_schema_is_refused_when_set() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    for schema in [
        json!({ "type": "no-such-type" }),
        json!({ "required": "invoice_id" }),
        json!({ "$ref": "https://example.com/remote.json" }),
        json!([]),
    ] {
        let body = json!({
            "application_id": org.application_id,
            "service": "billing", "resource_type": "invoice", "verb": "paid",
            "schema": schema,
        });
        let problem =
            expect_problem(app.post("/event_types", &body).await, 422, "Validation").await;
        assert!(
            problem["validation"].get("schema").is_some(),
            "{schema}: {problem}"
        );
    }
    expect_problem(
        app.get(&format!(
            "/event_types/{EVENT_TYPE}?application_id={}",
            org.application_id
        ))
        .await,
        404,
        "NotFound",
    )
    .await;
    let typed = typed_app(&app, invoice_schema()).await;
    let refused = app
        .put(
            &format!("/event_types/{EVENT_TYPE}/schema"),
            &json!({ "application_id": typed.application_id, "schema": { "minimum": "five" } }),
        )
        .await;
    expect_problem(refused, 422, "Validation").await;
    let kept = expect_json(
        app.get(&format!(
            "/event_types/{EVENT_TYPE}?application_id={}",
            typed.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(
        kept["schema"],
        invoice_schema(),
        "a refused change changes nothing"
    );
}

#[tokio::test]
async fn a_json_payload_must_match_its_type_schema_and_nothing_is_stored_otherwise() {
    let app = spawn_app().await;
    let org = typed_app(&app, invoice_schema()).await;
    let id = &org.application_id;
    let valid = json!({ "invoice_id": "in_42", "amount": 4200, "paid_at": "2026-12-05T10:00:00Z",
                        "customer": { "email": "ada@example.com" },
                        "lines": [{ "sku": "A-1", "qty": 2 }] });
    app.ingest_with(&event(id, valid)).await;

    let cases: [(Value, &[&str]); 6] = [
        (
            json!({ "invoice_id": 42, "amount": 1, "lines": [{ "sku": "A", "qty": 1 }] }),
            &["/invoice_id"],
        ),
        (
            json!({ "invoice_id": "in_1", "lines": [{ "sku": "A", "qty": 1 }] }),
            &[""],
        ),
        (
            json!({ "invoice_id": "in_1", "amount": 1, "paid_at": "last tuesday", "lines": [{ "sku": "A", "qty": 1 }] }),
            &["/paid_at"],
        ),
        (
            json!({ "invoice_id": "in_1", "amount": 1, "customer": { "email": "not-an-address" }, "lines": [{ "sku": "A", "qty": 1 }] }),
            &["/customer/email"],
        ),
        (
            json!({ "invoice_id": "in_1", "amount": 1, "lines": [{ "sku": "A", "qty": 1 }, { "sku": "B", "qty": 0 }, { "qty": 3 }] }),
            &["/lines/1/qty", "/lines/2"],
        ),
        (
            json!({ "invoice_id": "INV-1", "amount": -5, "lines": [] }),
            &["/invoice_id", "/amount", "/lines"],
        ),
    ];
    for (payload, pointers) in cases {
        let problem = expect_problem(
            app.post("/event", &event(id, payload.clone())).await,
            422,
            "Validation",
        )
        .await;
        let reported: Vec<&str> = problem["validation"]["payload"]
            .as_array()
            .unwrap_or_else(|| panic!("{problem}"))
            .iter()
            .map(|e| {
                assert_eq!(e["code"], "schema");
                assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
                e["params"]["pointer"].as_str().unwrap()
            })
            .collect();
        for pointer in pointers {
            assert!(
                reported.contains(pointer),
                "{payload}: {pointer} in {reported:?}"
            );
        }
    }
    assert_eq!(
        stored_events(&app, id).await,
        1,
        "refused events are not stored"
    );

    // Other content types are not JSON: the schema does not apply.
    let mut text = event(id, json!(null));
    text["payload"] = json!("plain text, no schema applies");
    text["payload_content_type"] = json!("text/plain");
    app.ingest_with(&text).await;
    let mut bytes = event(id, json!(null));
    bytes["payload"] = json!("AAEC");
    bytes["payload_content_type"] = json!("application/octet-stream+base64");
    app.ingest_with(&bytes).await;
    assert_eq!(stored_events(&app, id).await, 3);
}

#[tokio::test]
async fn a_schema_change_applies_to_the_next_ingest() {
    let app = spawn_app().await;
    let org = typed_app(&app, json!({ "type": "object" })).await;
    let id = &org.application_id;
    let small = json!({ "invoice_id": "in_1" });
    app.ingest_with(&event(id, small.clone())).await;

    let put = |schema: Value| {
        let body = json!({ "application_id": id, "schema": schema });
        let app = &app;
        async move {
            app.put(&format!("/event_types/{EVENT_TYPE}/schema"), &body)
                .await
        }
    };
    let changed = expect_json(put(invoice_schema()).await, 200).await;
    assert_eq!(changed["schema"], invoice_schema());
    expect_problem(
        app.post("/event", &event(id, small.clone())).await,
        422,
        "Validation",
    )
    .await;

    // Upstream's upsert, which knows no schema, keeps it.
    let upstream = json!({ "application_id": id, "service": "billing", "resource_type": "invoice", "verb": "paid" });
    let again = expect_json(app.post("/event_types", &upstream).await, 201).await;
    assert_eq!(again["schema"], invoice_schema());
    expect_problem(
        app.post("/event", &event(id, small.clone())).await,
        422,
        "Validation",
    )
    .await;

    // Removed: any payload again.
    let removed = expect_json(put(Value::Null).await, 200).await;
    assert!(removed.get("schema").is_none(), "{removed}");
    app.ingest_with(&event(id, small)).await;
    expect_problem(
        app.put(
            "/event_types/no.such.type/schema",
            &json!({ "application_id": id, "schema": {} }),
        )
        .await,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_shows_the_schema_fields() {
    let app = spawn_app().await;
    let doc = expect_json(app.anonymous().get("/swagger.json").await, 200).await;
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["EventType"]["properties"].get("schema").is_some(),
        "{}",
        schemas["EventType"]
    );
    assert!(schemas["EventTypePost"]["properties"]
        .get("schema")
        .is_some());
    assert!(doc["paths"]
        .get("/api/v1/event_types/{name}/schema")
        .is_some());
}
