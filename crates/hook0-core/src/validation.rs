//! Collects field errors for a 422 `Validation` problem. Clients already parse upstream's
//! `validation` object, which is the `validator` crate's JSON, so we produce the same shape:
//! `{"field": [{"code": "length", "message": null, "params": {"min": 1, "max": 50, "value": …}}]}`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// Per-field validation errors, in the `validator` crate's JSON shape.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct ValidationErrors {
    fields: BTreeMap<String, Vec<Value>>,
}

/// Limits on a string map such as `labels` or `metadata` (lengths in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLimits {
    pub min_entries: usize,
    pub max_entries: usize,
    pub key_min: usize,
    pub key_max: usize,
    pub value_min: usize,
    pub value_max: usize,
}

impl MapLimits {
    /// Event and subscription `labels`: 1..10 entries, keys and values 1..50 bytes.
    pub const LABELS: Self = Self {
        min_entries: 1,
        max_entries: 10,
        key_min: 1,
        key_max: 50,
        value_min: 1,
        value_max: 50,
    };
    /// `metadata`: up to 50 entries, keys and values 1..50 bytes.
    pub const METADATA: Self = Self {
        min_entries: 0,
        max_entries: 50,
        key_min: 1,
        key_max: 50,
        value_min: 1,
        value_max: 50,
    };
}

impl ValidationErrors {
    /// Records an error with no message.
    ///
    /// `params.value` is dropped when `code` starts with `secret-`, so secrets never echo back
    /// in an error body.
    pub fn add(&mut self, field: &str, code: &str, params: Value) {
        self.push(field, code, Value::Null, params);
    }

    /// Records an error with a human-readable message.
    pub fn add_with_message(&mut self, field: &str, code: &str, message: &str, params: Value) {
        self.push(field, code, Value::String(message.to_owned()), params);
    }

    fn push(&mut self, field: &str, code: &str, message: Value, mut params: Value) {
        if code.starts_with("secret-") {
            if let Some(map) = params.as_object_mut() {
                map.remove("value");
            }
        }
        if params.is_null() {
            params = Value::Object(Map::new());
        }
        self.fields
            .entry(field.to_owned())
            .or_default()
            .push(json!({ "code": code, "message": message, "params": params }));
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The `validation` member of the problem body.
    pub fn into_json(self) -> Value {
        Value::Object(
            self.fields
                .into_iter()
                .map(|(field, errors)| (field, Value::Array(errors)))
                .collect(),
        )
    }

    /// `Ok` when nothing was recorded.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Length in characters (the `validator` crate's rule for strings), inclusive bounds; also
    /// refuses NUL, which PostgreSQL text cannot hold (so both backends accept the same input).
    pub fn check_len(&mut self, field: &str, value: &str, min: usize, max: usize) {
        self.check_no_nul(field, value);
        let len = value.chars().count();
        if len < min || len > max {
            self.add(
                field,
                "length",
                json!({ "min": min, "max": max, "value": value }),
            );
        }
    }

    /// Refuses the NUL character.
    pub fn check_no_nul(&mut self, field: &str, value: &str) {
        if value.contains('\0') {
            self.add_with_message(
                field,
                "null_character",
                "must not contain the NUL character",
                json!({}),
            );
        }
    }

    /// Refuses control characters (newlines, tabs, NUL, …).
    pub fn check_no_control_chars(&mut self, field: &str, value: &str) {
        if value.chars().any(char::is_control) {
            self.add(field, "control_character", json!({ "value": value }));
        }
    }

    /// Checks a string map's entry count and each key's and value's length in bytes. Every
    /// error is recorded on `field` with code `length` and a message naming the culprit.
    pub fn check_map<I, K, V>(&mut self, field: &str, entries: I, limits: MapLimits)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut count = 0;
        let mut all = Map::new();
        for (key, value) in entries {
            let (key, value) = (key.as_ref(), value.as_ref());
            count += 1;
            all.insert(key.to_owned(), Value::String(value.to_owned()));
            self.check_no_nul(field, key);
            self.check_no_nul(field, value);
            if key.len() < limits.key_min || key.len() > limits.key_max {
                let message = format!(
                    "key `{key}` must be {}..{} bytes long",
                    limits.key_min, limits.key_max
                );
                let params = json!({ "min": limits.key_min, "max": limits.key_max, "value": key });
                self.add_with_message(field, "length", &message, params);
            }
            if value.len() < limits.value_min || value.len() > limits.value_max {
                let message = format!(
                    "value of key `{key}` must be {}..{} bytes long",
                    limits.value_min, limits.value_max
                );
                let params =
                    json!({ "min": limits.value_min, "max": limits.value_max, "value": value });
                self.add_with_message(field, "length", &message, params);
            }
        }
        if count < limits.min_entries || count > limits.max_entries {
            let message = format!(
                "must have {}..{} entries, has {count}",
                limits.min_entries, limits.max_entries
            );
            let params =
                json!({ "min": limits.min_entries, "max": limits.max_entries, "value": all });
            self.add_with_message(field, "length", &message, params);
        }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> = self.fields.keys().map(String::as_str).collect();
        write!(f, "invalid fields: {}", fields.join(", "))
    }
}

impl std::error::Error for ValidationErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_in_text_and_maps() {
        let mut errors = ValidationErrors::default();
        errors.check_len("name", "a\0b", 1, 50);
        errors.check_map("labels", [("k", "v\0")], MapLimits::LABELS);
        let json = errors.into_json();
        assert_eq!(json["name"][0]["code"], "null_character");
        assert_eq!(json["labels"][0]["code"], "null_character");
    }

    #[test]
    fn empty_is_ok() {
        let mut errors = ValidationErrors::default();
        errors.check_len("name", "ok", 1, 50);
        errors.check_no_control_chars("name", "ok");
        assert!(errors.is_empty());
        assert!(errors.into_result().is_ok());
    }

    #[test]
    fn length_error_shape() {
        let mut errors = ValidationErrors::default();
        errors.check_len("name", "", 1, 50);
        errors.check_len("description", "ééé", 1, 2);
        assert_eq!(
            errors.into_json(),
            json!({
                "name": [{"code": "length", "message": null, "params": {"min": 1, "max": 50, "value": ""}}],
                "description": [{"code": "length", "message": null, "params": {"min": 1, "max": 2, "value": "ééé"}}],
            })
        );
    }

    #[test]
    fn length_counts_characters() {
        let mut errors = ValidationErrors::default();
        errors.check_len("name", "ééé", 3, 3);
        assert!(errors.is_empty());
    }

    #[test]
    fn control_characters() {
        let mut errors = ValidationErrors::default();
        errors.check_no_control_chars("event_type", "a\nb");
        let json = errors.into_json();
        assert_eq!(json["event_type"][0]["code"], "control_character");
        assert_eq!(json["event_type"][0]["params"]["value"], "a\nb");
    }

    #[test]
    fn secret_codes_hide_the_value() {
        let mut errors = ValidationErrors::default();
        errors.add(
            "password",
            "secret-length",
            json!({"min": 12, "value": "hunter2"}),
        );
        let json = errors.into_result().unwrap_err().into_json();
        assert_eq!(json["password"][0]["params"], json!({"min": 12}));
    }

    #[test]
    fn map_limits() {
        let mut labels = BTreeMap::new();
        let mut errors = ValidationErrors::default();
        errors.check_map("labels", &labels, MapLimits::LABELS);
        let json = errors.into_json();
        assert_eq!(json["labels"][0]["code"], "length");
        assert_eq!(json["labels"][0]["params"]["value"], json!({}));

        labels.insert("env".to_owned(), "x".repeat(51));
        labels.insert(String::new(), "v".to_owned());
        let mut errors = ValidationErrors::default();
        errors.check_map("labels", &labels, MapLimits::LABELS);
        let json = errors.into_json();
        assert_eq!(json["labels"].as_array().unwrap().len(), 2);
        assert_eq!(json["labels"][0]["params"]["value"], "");
        assert_eq!(
            json["labels"][1]["message"],
            "value of key `env` must be 1..50 bytes long"
        );

        let mut errors = ValidationErrors::default();
        errors.check_map("metadata", [("a", "b")], MapLimits::METADATA);
        errors.check_map("metadata", Vec::<(&str, &str)>::new(), MapLimits::METADATA);
        assert!(errors.is_empty());
    }

    #[test]
    fn too_many_entries() {
        let many: Vec<(String, String)> = (0..11).map(|i| (i.to_string(), "v".into())).collect();
        let mut errors = ValidationErrors::default();
        errors.check_map(
            "labels",
            many.iter().map(|(k, v)| (k, v)),
            MapLimits::LABELS,
        );
        let json = errors.into_json();
        assert_eq!(json["labels"][0]["params"]["max"], 10);
        assert_eq!(
            json["labels"][0]["message"],
            "must have 1..10 entries, has 11"
        );
    }
}
