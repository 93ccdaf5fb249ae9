//! `--schema`: a realistic event type schema (an invoice) and payloads that match it.

use serde_json::{json, Value};

/// An invoice: identifiers with patterns, amounts, a date-time, an email, a nested array.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["invoice_id", "customer", "amount", "currency", "issued_at", "lines"],
        "properties": {
            "invoice_id": { "type": "string", "pattern": "^in_[A-Za-z0-9]+$" },
            "customer": {
                "type": "object", "required": ["id", "email"],
                "properties": {
                    "id": { "type": "string", "format": "uuid" },
                    "email": { "type": "string", "format": "email" }
                }
            },
            "amount": { "type": "integer", "minimum": 0 },
            "currency": { "enum": ["EUR", "USD", "GBP"] },
            "issued_at": { "type": "string", "format": "date-time" },
            "lines": {
                "type": "array", "minItems": 1, "maxItems": 100,
                "items": {
                    "type": "object", "required": ["sku", "qty", "unit_price"],
                    "properties": {
                        "sku": { "type": "string", "maxLength": 32 },
                        "qty": { "type": "integer", "minimum": 1 },
                        "unit_price": { "type": "integer", "minimum": 0 }
                    }
                }
            },
            "note": { "type": "string" }
        },
        "additionalProperties": false
    })
}

/// A matching invoice of three lines, its `note` padded to about `size` bytes in all.
pub fn payload(size: usize) -> String {
    let mut invoice = json!({
        "invoice_id": "in_8f3a2c",
        "customer": { "id": "1f0e6b1c-6d2a-4c55-9d8e-0d2f7d7f4a11", "email": "ada@example.com" },
        "amount": 12_900,
        "currency": "EUR",
        "issued_at": "2026-12-05T10:00:00Z",
        "lines": [
            { "sku": "PLAN-PRO", "qty": 1, "unit_price": 9_900 },
            { "sku": "SEAT", "qty": 3, "unit_price": 1_000 },
            { "sku": "SUPPORT", "qty": 1, "unit_price": 0 }
        ],
        "note": ""
    });
    let base = invoice.to_string().len();
    invoice["note"] = json!("x".repeat(size.saturating_sub(base)));
    invoice.to_string()
}

/// What ingest adds per event with a schema, measured alone: parsing the payload again and
/// checking it (the schema compiled once, as the server's cache does).
pub fn print_validation_cost(size: usize) {
    const RUNS: u32 = 20_000;
    let compiled = hook0_core::schema::compile(&schema()).expect("the bench schema compiles");
    let payload = payload(size);
    let started = std::time::Instant::now();
    for _ in 0..RUNS {
        let value: Value = serde_json::from_slice(payload.as_bytes()).expect("JSON");
        assert!(compiled.violations(&value).is_empty());
    }
    let per = started.elapsed() / RUNS;
    println!(
        "schema validation alone: {:.1} µs per {}-byte payload ({RUNS} runs, parse + check)",
        per.as_secs_f64() * 1e6,
        payload.len()
    );
}
