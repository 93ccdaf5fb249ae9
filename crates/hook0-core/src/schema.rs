//! Event type schemas: a JSON Schema (draft 2020-12) an event type may carry, compiled once and
//! checked against every `application/json` payload ingested under that type. Remote
//! references are never fetched (the crate's fetching features are off): a schema refers only
//! to itself. Formats (`date-time`, `email`, `uuid`, …) are checked, not just annotations.

use serde_json::Value;

/// Largest schema accepted, in bytes of its JSON text.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Most violations reported for one payload.
pub const MAX_VIOLATIONS: usize = 10;

/// A compiled schema, ready to check payloads.
pub struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

/// Where a payload fails its schema, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the payload (`""` is the whole payload, `/lines/0/amount` a field).
    pub pointer: String,
    /// JSON pointer into the schema, to the keyword that failed (`/properties/amount/type`).
    pub schema_path: String,
    /// What was expected, in words.
    pub message: String,
}

/// Compiles `schema` as draft 2020-12; the error says why it is not a usable schema.
pub fn compile(schema: &Value) -> Result<CompiledSchema, String> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err("a JSON Schema is an object (or true/false)".into());
    }
    if schema.to_string().len() > MAX_SCHEMA_BYTES {
        return Err(format!("a schema may be {MAX_SCHEMA_BYTES} bytes at most"));
    }
    if let Err(error) = jsonschema::draft202012::meta::validate(schema) {
        return Err(format!("not a valid draft 2020-12 schema: {error}"));
    }
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .map(|validator| CompiledSchema { validator })
        .map_err(|error| format!("the schema cannot be used: {error}"))
}

impl CompiledSchema {
    /// The payload's violations (at most [`MAX_VIOLATIONS`]); empty when it matches.
    pub fn violations(&self, payload: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(payload)
            .take(MAX_VIOLATIONS)
            .map(|error| Violation {
                pointer: error.instance_path().to_string(),
                schema_path: error.schema_path().to_string(),
                message: error.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invoice() -> CompiledSchema {
        compile(&json!({
            "type": "object",
            "required": ["invoice_id", "amount", "lines"],
            "properties": {
                "invoice_id": { "type": "string" },
                "amount": { "type": "integer", "minimum": 0 },
                "paid_at": { "type": "string", "format": "date-time" },
                "lines": { "type": "array", "items": {
                    "type": "object", "required": ["sku"],
                    "properties": { "sku": { "type": "string" }, "qty": { "type": "integer" } }
                } }
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_matching_payload_has_no_violation() {
        let payload = json!({ "invoice_id": "in_1", "amount": 42, "paid_at": "2026-12-05T10:00:00Z",
                              "lines": [{ "sku": "A", "qty": 2 }] });
        assert!(invoice().violations(&payload).is_empty());
    }

    #[test]
    fn violations_point_at_the_failing_place() {
        let payload = json!({ "invoice_id": 7, "amount": -1, "paid_at": "yesterday",
                              "lines": [{ "sku": "A" }, { "qty": "two" }] });
        let violations = invoice().violations(&payload);
        let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
        for expected in [
            "/invoice_id",
            "/amount",
            "/paid_at",
            "/lines/1",
            "/lines/1/qty",
        ] {
            assert!(pointers.contains(&expected), "{expected} in {pointers:?}");
        }
        let missing = json!({ "invoice_id": "in_1" });
        let violations = invoice().violations(&missing);
        assert!(violations.iter().all(|v| v.pointer.is_empty()));
        assert!(
            violations.iter().any(|v| v.message.contains("amount")),
            "{violations:?}"
        );
    }

    #[test]
    fn invalid_schemas_are_refused() {
        for schema in [
            json!({ "type": "no-such-type" }),
            json!({ "minimum": "five" }),
            json!([1, 2]),
            json!({ "$ref": "https://example.com/remote.json" }),
            json!({ "pattern": "(" }),
        ] {
            assert!(compile(&schema).is_err(), "{schema}");
        }
        assert!(compile(&json!(true)).is_ok());
    }
}
