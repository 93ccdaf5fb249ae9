//! The hand-off between the queue (store) and the delivery worker: what a claim yields and what a
//! finished delivery reports back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::circuit::CircuitPolicy;
use crate::model::{HttpTarget, PayloadContentType, Response};

// Why a delivery got no usable answer: upstream's error names, which the API shows customers
// (`response_error_name`). The worker sets them; the store, metrics and pages read them.
/// The target answered with a status that is not 2xx.
pub const E_HTTP: &str = "E_HTTP";
/// No complete answer within the delivery timeout.
pub const E_TIMEOUT: &str = "E_TIMEOUT";
/// The connection could not be made or broke.
pub const E_CONNECTION: &str = "E_CONNECTION";
/// The target is not allowed (SSRF guard) or not a valid HTTP target.
pub const E_INVALID_TARGET: &str = "E_INVALID_TARGET";
/// The target's name could not be resolved.
pub const E_DNS: &str = "E_DNS";
/// A header cannot be sent or signed; no retry can fix it.
pub const E_INVALID_HEADER: &str = "E_INVALID_HEADER";
/// Anything else.
pub const E_UNKNOWN: &str = "E_UNKNOWN";

/// Identifies one request attempt and everything needed to schedule its retry row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRef {
    pub attempt_id: Uuid,
    pub application_id: Uuid,
    pub event_id: Uuid,
    pub subscription_id: Uuid,
    pub retry_count: i32,
}

/// A claimed attempt with everything the worker needs to send it, read in the claim itself.
#[derive(Clone, Debug)]
pub struct DeliveryJob {
    pub attempt: AttemptRef,
    /// When the attempt became due (`max(created_at, delay_until)`): the start of its latency.
    pub due_at: DateTime<Utc>,
    pub event_received_at: DateTime<Utc>,
    pub event_type_name: String,
    pub payload: Vec<u8>,
    pub payload_content_type: PayloadContentType,
    pub target: HttpTarget,
    pub secret: Uuid,
    /// The live Standard Webhooks secrets (`whsec_…`, newest first) that sign this delivery;
    /// empty when the subscription has not opted in.
    pub standard_webhooks_secrets: Vec<String>,
}

/// The result of one delivery, written back in one store call (batched across deliveries).
#[derive(Clone, Debug)]
pub struct DeliveryOutcome {
    pub attempt: AttemptRef,
    pub succeeded: bool,
    pub completed_at: DateTime<Utc>,
    pub response: Response,
    /// When the next attempt is due; `None` when no retry is to be made.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What the worker asks of a claim: how many attempts, and the limits that keep one target from
/// starving the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Most attempts claimed.
    pub limit: u32,
    /// How long the claimed attempts are ours.
    pub lease: Duration,
    /// Most attempts of one subscription in flight at once, counting every worker's leases
    /// (`MAX_IN_FLIGHT_PER_SUBSCRIPTION`).
    pub max_in_flight_per_subscription: u32,
    /// Subscriptions whose target the worker has seen keep up (quick successes, nothing of
    /// theirs running long), sorted: their cap is `max_in_flight_per_fast_subscription`
    /// instead, so one busy endpoint is not bounded by the cap meant for slow ones.
    pub fast_subscriptions: Vec<Uuid>,
    /// The cap of the `fast_subscriptions` (`MAX_IN_FLIGHT_PER_FAST_SUBSCRIPTION`).
    pub max_in_flight_per_fast_subscription: u32,
    /// Attempts with `retry_count` below this are high priority (`HP_RETRY_CUTOFF`).
    pub hp_retry_cutoff: i32,
    /// Most high-priority attempts claimed (capacity not reserved for retries).
    pub max_high_priority: u32,
    /// Most low-priority attempts (retries) claimed (capacity not reserved for fresh events).
    pub max_low_priority: u32,
}

impl ClaimRequest {
    /// A claim with no limit beyond `limit`: no cap per subscription, no priority classes.
    pub fn unlimited(limit: u32, lease: Duration) -> Self {
        Self {
            limit,
            lease,
            max_in_flight_per_subscription: u32::MAX,
            fast_subscriptions: Vec::new(),
            max_in_flight_per_fast_subscription: u32::MAX,
            hp_retry_cutoff: 0,
            max_high_priority: limit,
            max_low_priority: limit,
        }
    }

    /// Most attempts of this subscription in flight at once.
    pub fn cap_of(&self, subscription_id: &Uuid) -> u32 {
        if self
            .fast_subscriptions
            .binary_search(subscription_id)
            .is_ok()
        {
            self.max_in_flight_per_fast_subscription
                .max(self.max_in_flight_per_subscription)
        } else {
            self.max_in_flight_per_subscription
        }
    }

    /// True when an attempt with this retry count is high priority.
    pub fn is_high_priority(&self, retry_count: i32) -> bool {
        retry_count < self.hp_retry_cutoff
    }
}

/// How recorded outcomes move a subscription's circuit and when they disable it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomePolicy {
    pub circuit: CircuitPolicy,
    /// A subscription failing without a success for this long (and at least the circuit's
    /// threshold of times in a row) is disabled (`SUBSCRIPTION_AUTO_DISABLE_AFTER`); `None`
    /// never disables.
    pub auto_disable_after: Option<Duration>,
}

/// Headers that decide how a request is framed or routed (`Content-Length`, `Transfer-Encoding`,
/// `Connection`, `Keep-Alive`, `TE`, `Trailer`, `Upgrade`, `Host`, `Proxy-*`): a subscription may
/// not set them, since the HTTP client owns them (`Content-Length: 0` would send every delivery
/// with an empty body). Refused when a subscription is saved, and skipped at delivery for rows
/// saved before.
pub fn is_framing_header(name: &str) -> bool {
    const FRAMING: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "host",
    ];
    let name = name.trim().to_ascii_lowercase();
    FRAMING.contains(&name.as_str()) || name.starts_with("proxy-")
}

#[cfg(test)]
mod framing_tests {
    #[test]
    fn framing_headers_are_recognised_in_any_case() {
        for name in [
            "Content-Length",
            "TRANSFER-ENCODING",
            "te",
            "Proxy-Authorization",
            "Host",
        ] {
            assert!(super::is_framing_header(name), "{name}");
        }
        for name in ["X-Api-Key", "Authorization", "Content-Type", "Tenant"] {
            assert!(!super::is_framing_header(name), "{name}");
        }
    }
}
