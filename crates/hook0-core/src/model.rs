//! The domain records Hook0 stores and routes: organizations, applications, their secrets, event
//! types, subscriptions, events, request attempts and responses.
//!
//! These are storage-neutral: both backends read and write them, and the API shapes its JSON from
//! them. Values reaching these types have already been validated at the edge (`crate::validation`
//! and the API's request types).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The current time at the microsecond precision both databases keep, so what the API answers
/// equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// String-to-string maps: event and subscription labels, metadata, target headers.
pub type StringMap = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    /// Days events are kept; `None` uses the instance default (`EVENT_RETENTION_DAYS`).
    pub retention_days: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationSecret {
    pub token: Uuid,
    pub application_id: Uuid,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventType {
    pub application_id: Uuid,
    pub service: String,
    pub resource_type: String,
    pub verb: String,
    pub created_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// A JSON Schema (draft 2020-12) every `application/json` payload of this type must match
    /// (`crate::schema`); none: any payload.
    pub schema: Option<serde_json::Value>,
}

impl EventType {
    /// The full name, `service.resource_type.verb`, as events and subscriptions refer to it.
    pub fn name(&self) -> String {
        format!("{}.{}.{}", self.service, self.resource_type, self.verb)
    }
}

/// Where and how a subscription's deliveries are sent. Only `http` targets exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpTarget {
    /// Upper-case HTTP method, one of GET, PATCH, POST, PUT, DELETE, OPTIONS, HEAD.
    pub method: String,
    pub url: String,
    pub headers: StringMap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub application_id: Uuid,
    pub is_enabled: bool,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    /// HMAC key of the signature; used as its hyphenated lowercase string.
    pub secret: Uuid,
    pub metadata: StringMap,
    pub labels: StringMap,
    pub target: HttpTarget,
    pub dedicated_workers: Vec<String>,
    /// Ordered delivery per key, when opted in.
    pub ordering: Option<Ordering>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Ordered delivery per key: of the events carrying the label `label`, those with the same
/// value (the key) are delivered one at a time, in ingest order. The next one waits until the
/// previous succeeded or became a dead letter, and then `on_dead_letter` decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ordering {
    pub label: String,
    pub on_dead_letter: OnDeadLetter,
}

/// What a key does when its current delivery becomes a dead letter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDeadLetter {
    /// The key waits until that dead letter is redelivered (nothing arrives out of order).
    #[default]
    Hold,
    /// The next event of the key goes (the dead letter can still be redelivered later).
    Continue,
}

impl OnDeadLetter {
    pub const NAMES: [&'static str; 2] = ["hold", "continue"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::Continue => "continue",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "hold" => Some(Self::Hold),
            "continue" => Some(Self::Continue),
            _ => None,
        }
    }
}

impl Subscription {
    /// The ordering key of an event with these labels: the value of the ordering label, when
    /// the subscription orders its deliveries and the event carries that label.
    pub fn ordering_key<'a>(&self, event_labels: &'a StringMap) -> Option<&'a str> {
        let ordering = self.ordering.as_ref()?;
        event_labels.get(&ordering.label).map(String::as_str)
    }

    /// Routing rule: an event goes to this subscription when it is enabled, lists the event's
    /// type, and the event carries every label of the subscription (event labels ⊇ these labels).
    pub fn matches(&self, event_type: &str, event_labels: &StringMap) -> bool {
        self.is_enabled
            && self.event_types.iter().any(|t| t == event_type)
            && labels_match(&self.labels, event_labels)
    }
}

/// True when every `required` label is present in `carried` with the same value.
pub fn labels_match(required: &StringMap, carried: &StringMap) -> bool {
    required.iter().all(|(k, v)| carried.get(k) == Some(v))
}

/// How an event's payload string is to be read; the stored bytes are the decoded payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadContentType {
    TextPlain,
    Json,
    /// Base64 on the way in, raw bytes stored and delivered.
    OctetStreamBase64,
}

impl PayloadContentType {
    pub const ALL: [PayloadContentType; 3] = [Self::TextPlain, Self::Json, Self::OctetStreamBase64];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TextPlain => "text/plain",
            Self::Json => "application/json",
            Self::OctetStreamBase64 => "application/octet-stream+base64",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An event as stored: the payload is the decoded bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub application_id: Uuid,
    pub event_type_name: String,
    pub payload: Vec<u8>,
    pub payload_content_type: PayloadContentType,
    pub ip: Option<String>,
    pub metadata: StringMap,
    pub labels: StringMap,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// One try at delivering one event to one subscription. Each retry is a new attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAttempt {
    pub id: Uuid,
    pub application_id: Uuid,
    pub event_id: Uuid,
    pub event_type_name: String,
    pub subscription_id: Uuid,
    pub subscription_description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub picked_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub delay_until: Option<DateTime<Utc>>,
    pub response_id: Option<Uuid>,
    pub retry_count: i32,
    pub http_response_status: Option<i32>,
    /// The key of an ordered delivery (see [`Ordering`]).
    pub ordering_key: Option<String>,
}

/// What `GET /request_attempts?status=` filters on: the `type` of an attempt's status, or
/// `dead_letter` (failed with no retry left, not yet redelivered or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptStatusFilter {
    Waiting,
    Pending,
    InProgress,
    Successful,
    Failed,
    DeadLetter,
}

impl AttemptStatusFilter {
    pub const NAMES: [&'static str; 6] = [
        "waiting",
        "pending",
        "in_progress",
        "successful",
        "failed",
        "dead_letter",
    ];

    /// Upstream's spellings too: `inprogress` (its wire form) and `in_progress` (its OpenAPI).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "waiting" => Self::Waiting,
            "pending" => Self::Pending,
            "in_progress" | "inprogress" | "in-progress" => Self::InProgress,
            "successful" | "success" | "succeeded" => Self::Successful,
            "failed" | "failure" => Self::Failed,
            "dead_letter" | "dead_letters" | "dead-letter" | "dead" => Self::DeadLetter,
            _ => return None,
        })
    }

    /// The SQL condition on a `request_attempt ra` row, as in [`RequestAttempt::status`]: the
    /// text, and whether the current time must follow it (then a closing parenthesis).
    pub fn sql(self) -> (&'static str, bool) {
        match self {
            Self::Successful => ("ra.succeeded_at IS NOT NULL", false),
            Self::Failed => ("(ra.succeeded_at IS NULL AND ra.failed_at IS NOT NULL)", false),
            Self::DeadLetter => ("ra.dead_lettered_at IS NOT NULL", false),
            Self::InProgress => (
                "(ra.succeeded_at IS NULL AND ra.failed_at IS NULL AND ra.picked_at IS NOT NULL)",
                false,
            ),
            Self::Waiting => (
                "(ra.succeeded_at IS NULL AND ra.failed_at IS NULL AND ra.picked_at IS NULL AND ra.delay_until > ",
                true,
            ),
            Self::Pending => (
                "(ra.succeeded_at IS NULL AND ra.failed_at IS NULL AND ra.picked_at IS NULL AND COALESCE(ra.delay_until, ra.created_at) <= ",
                true,
            ),
        }
    }
}

/// The lifecycle position of an attempt, as the API reports it in `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    Waiting {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    Pending {
        since: DateTime<Utc>,
    },
    InProgress {
        since: DateTime<Utc>,
    },
    Successful {
        at: DateTime<Utc>,
        full_processing_ms: i64,
    },
    Failed {
        at: DateTime<Utc>,
        full_processing_ms: i64,
    },
}

impl RequestAttempt {
    pub fn status(&self, now: DateTime<Utc>) -> AttemptStatus {
        let start = match self.delay_until {
            Some(d) if d > self.created_at => d,
            _ => self.created_at,
        };
        let processing = |at: DateTime<Utc>| (at - start).num_milliseconds().max(0);
        if let Some(at) = self.succeeded_at {
            AttemptStatus::Successful {
                at,
                full_processing_ms: processing(at),
            }
        } else if let Some(at) = self.failed_at {
            AttemptStatus::Failed {
                at,
                full_processing_ms: processing(at),
            }
        } else if let Some(since) = self.picked_at {
            AttemptStatus::InProgress { since }
        } else if let Some(until) = self.delay_until.filter(|d| *d > now) {
            AttemptStatus::Waiting {
                since: self.created_at,
                until,
            }
        } else {
            AttemptStatus::Pending {
                since: self.created_at,
            }
        }
    }
}

/// What a target answered (or why it could not answer) to one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: Uuid,
    pub application_id: Uuid,
    /// `E_HTTP`, `E_TIMEOUT`, `E_CONNECTION`, … ; `None` on success.
    pub error_name: Option<String>,
    pub http_code: Option<i32>,
    pub headers: Option<StringMap>,
    pub body: Option<Vec<u8>>,
    pub elapsed_time_ms: i64,
}

/// An attempt that failed with no retry left (retries exhausted, a failure no retry can fix,
/// or its subscription auto-disabled), until it is redelivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub attempt: RequestAttempt,
    pub dead_lettered_at: DateTime<Utc>,
}

/// A Standard Webhooks signing secret of a subscription. Live until `expires_at`: after a
/// rotation the previous secret keeps signing until the overlap window ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningSecret {
    /// `whsec_<base64>`.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `event_type` of the operational event recorded when a subscription is auto-disabled.
pub const SUBSCRIPTION_DISABLED: &str = "api.subscription.disabled";

/// Something Hook0 itself tells the owner of an application (e.g. that a failing subscription
/// was disabled): listed by the API and, when configured, sent to an operator's webhook URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationalEvent {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub application_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_are_a_subset_match() {
        let sub = map(&[("env", "prod")]);
        assert!(labels_match(
            &sub,
            &map(&[("env", "prod"), ("tenant", "a")])
        ));
        assert!(!labels_match(&sub, &map(&[("env", "dev")])));
        assert!(!labels_match(&sub, &map(&[("tenant", "a")])));
        assert!(labels_match(&StringMap::new(), &map(&[("x", "y")])));
    }

    #[test]
    fn content_types_round_trip() {
        for c in PayloadContentType::ALL {
            assert_eq!(PayloadContentType::parse(c.as_str()), Some(c));
        }
        assert_eq!(PayloadContentType::parse("text/html"), None);
    }
}
