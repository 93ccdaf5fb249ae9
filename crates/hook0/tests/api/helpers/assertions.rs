//! Assertions on API answers: status, content type, problem+json shape, exact field names.

use std::collections::BTreeSet;

use serde_json::Value;
use uuid::Uuid;

/// Asserts the status and a JSON body; returns the body.
pub async fn expect_json(response: reqwest::Response, status: u16) -> Value {
    let (actual, content_type, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}; body: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an empty answer with this status (204 for deletes and replays).
pub async fn expect_empty(response: reqwest::Response, status: u16) {
    let (actual, _, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(text.is_empty(), "expected an empty body, got {text}");
}

/// Asserts an RFC 7807 answer with upstream's problem `id`; returns the body.
pub async fn expect_problem(response: reqwest::Response, status: u16, id: &str) -> Value {
    let (actual, content_type, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["id"], id, "body: {text}");
    assert_eq!(body["status"], status, "body: {text}");
    let expected_type = format!(
        "https://documentation.hook0.com/reference/error-codes#{}",
        id.to_lowercase()
    );
    assert_eq!(body["type"], expected_type.as_str());
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "title: {text}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {text}"
    );
    if status == 422 {
        assert!(
            body["validation"].is_object(),
            "422 carries a validation object: {text}"
        );
    } else {
        assert!(
            body["validation"].is_null(),
            "validation is null unless 422: {text}"
        );
    }
    body
}

async fn read(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body readable");
    (status, content_type, text)
}

/// Asserts that `value` is an object with exactly these field names.
pub fn assert_fields(value: &Value, expected: &[&str]) {
    let actual: BTreeSet<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(actual, expected, "field names of {value}");
}

/// Asserts a lowercase hyphenated UUID of this version.
pub fn assert_uuid(value: &Value, version: usize) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    let uuid = Uuid::parse_str(text).unwrap_or_else(|_| panic!("{text} is not a UUID"));
    assert_eq!(uuid.hyphenated().to_string(), text, "lowercase hyphenated");
    assert_eq!(uuid.get_version_num(), version, "UUID version of {text}");
}

/// Parses an RFC 3339 timestamp field.
pub fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .to_utc()
}
