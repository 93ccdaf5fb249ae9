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

/// A payload that follows `schema`, for trying a delivery (`hook0 trigger`): the schema's own
/// `examples`, `default`, `const` or first `enum` value where it gives one, else a value of the
/// declared type (formats honoured, minimums and minimum lengths met, every declared property
/// of an object, `minItems` items of an array). Local `$ref`s are followed; of `anyOf`/`oneOf`
/// the first branch is taken. Check the result with [`CompiledSchema::violations`]: a
/// `pattern`, for one, cannot be guessed.
pub fn example(schema: &Value) -> Value {
    example_at(schema, schema, 0)
}

fn example_at(root: &Value, schema: &Value, depth: usize) -> Value {
    use serde_json::json;
    if depth > 16 {
        return Value::Null;
    }
    let Some(s) = schema.as_object() else {
        return json!({});
    };
    if let Some(first) = s.get("examples").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["const", "default"] {
        if let Some(value) = s.get(key) {
            return value.clone();
        }
    }
    if let Some(first) = s.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    if let Some(target) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        return example_at(root, target, depth + 1);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(first) = s.get(key).and_then(|b| b.get(0)) {
            return example_at(root, first, depth + 1);
        }
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types.iter().find_map(Value::as_str).unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "object",
    };
    match kind {
        "object" => {
            let mut object = serde_json::Map::new();
            for (name, property) in s
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                object.insert(name.clone(), example_at(root, property, depth + 1));
            }
            Value::Object(object)
        }
        "array" => {
            let count = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .min(100);
            let item = s
                .get("items")
                .map_or(Value::Null, |i| example_at(root, i, depth + 1));
            Value::Array(vec![item; count as usize])
        }
        "string" => {
            let text = match s.get("format").and_then(Value::as_str) {
                Some("date-time") => "2026-12-05T10:00:00Z",
                Some("date") => "2026-12-05",
                Some("time") => "10:00:00Z",
                Some("email") => "someone@example.com",
                Some("uuid") => "00000000-0000-4000-8000-000000000000",
                Some("uri" | "url" | "iri") => "https://example.com/",
                Some("hostname") => "example.com",
                Some("ipv4") => "192.0.2.1",
                Some("ipv6") => "2001:db8::1",
                _ => "example",
            };
            let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut text = text.to_owned();
            while text.chars().count() < min {
                text.push('x');
            }
            Value::String(text)
        }
        "integer" | "number" => {
            let minimum = s.get("minimum").and_then(Value::as_f64);
            let exclusive = s
                .get("exclusiveMinimum")
                .and_then(Value::as_f64)
                .map(|m| m + 1.0);
            let value = minimum
                .or(exclusive)
                .unwrap_or(0.0)
                .max(exclusive.unwrap_or(f64::MIN));
            if kind == "integer" {
                json!(value.ceil() as i64)
            } else {
                json!(value)
            }
        }
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invoice() -> CompiledSchema {
        compile(&invoice_schema()).unwrap()
    }

    fn invoice_schema() -> Value {
        json!({
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
        })
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
    fn an_example_follows_the_schema() {
        let schema = json!({
            "$defs": { "line": { "type": "object", "required": ["sku", "qty"],
                "properties": { "sku": { "type": "string", "minLength": 10 }, "qty": { "type": "integer", "minimum": 1 } } } },
            "type": "object",
            "required": ["invoice_id", "paid_at", "currency", "lines"],
            "properties": {
                "invoice_id": { "type": "string", "examples": ["in_42"] },
                "paid_at": { "type": "string", "format": "date-time" },
                "email": { "type": "string", "format": "email" },
                "currency": { "enum": ["EUR", "USD"] },
                "amount": { "type": "number", "exclusiveMinimum": 0 },
                "lines": { "type": "array", "minItems": 2, "items": { "$ref": "#/$defs/line" } }
            },
            "additionalProperties": false
        });
        let example = example(&schema);
        assert!(
            compile(&schema).unwrap().violations(&example).is_empty(),
            "{example}"
        );
        assert_eq!(example["invoice_id"], "in_42");
        assert_eq!(example["lines"].as_array().unwrap().len(), 2);
        assert_eq!(
            invoice().violations(&super::example(&invoice_schema())),
            vec![]
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
