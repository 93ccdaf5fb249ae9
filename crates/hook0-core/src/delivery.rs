//! The hand-off between the queue (store) and the delivery worker: what a claim yields and what a
//! finished delivery reports back.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{HttpTarget, PayloadContentType, Response};

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
