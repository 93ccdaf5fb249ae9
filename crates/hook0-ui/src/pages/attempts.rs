//! Request attempts as the pages show them (the delivery log, an event's attempts).

use serde_json::Value;

use crate::pages::readable_time;

pub(crate) struct AttemptView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub subscription_id: String,
    pub subscription: String,
    pub created_at: String,
    /// The status `type`, with upstream's `inprogress` spelled `in_progress`.
    pub status: String,
    pub status_label: String,
    pub http_status: String,
    pub retry_count: i64,
    pub delay_until: String,
    pub response_id: Option<String>,
    /// The key of an ordered delivery, if any.
    pub ordering_key: Option<String>,
}

/// The `status` filter's choices: query value and label.
pub(crate) const STATUSES: [(&str, &str); 6] = [
    ("waiting", "waiting for a retry"),
    ("pending", "pending"),
    ("in_progress", "in progress"),
    ("successful", "successful"),
    ("failed", "failed"),
    ("dead_letter", "dead letter (no retry left)"),
];

impl AttemptView {
    pub fn from_json(a: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let status = match a["status"]["type"].as_str().unwrap_or_default() {
            "inprogress" => "in_progress".to_owned(),
            other => other.to_owned(),
        };
        let status_label = STATUSES
            .iter()
            .find(|(value, _)| *value == status)
            .map_or(status.clone(), |(_, label)| (*label).to_owned());
        let description = text(&a["subscription"]["description"]);
        Self {
            id: text(&a["request_attempt_id"]),
            event_id: text(&a["event_id"]),
            event_type: text(&a["event"]["event_type_name"]),
            subscription_id: text(&a["subscription"]["subscription_id"]),
            subscription: if description.is_empty() {
                text(&a["subscription"]["subscription_id"])
            } else {
                description
            },
            created_at: readable_time(&text(&a["created_at"])),
            status,
            status_label,
            http_status: a["http_response_status"]
                .as_i64()
                .map_or("—".into(), |s| s.to_string()),
            retry_count: a["retry_count"].as_i64().unwrap_or(0),
            delay_until: readable_time(&text(&a["delay_until"])),
            response_id: a["response_id"].as_str().map(str::to_owned),
            ordering_key: a["ordering_key"].as_str().map(str::to_owned),
        }
    }

    pub fn list(answer: &Value) -> Vec<Self> {
        answer
            .as_array()
            .into_iter()
            .flatten()
            .map(Self::from_json)
            .collect()
    }
}
