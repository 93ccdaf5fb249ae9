//! Ordered delivery per key, as both backends keep it (migration 9). A subscription with an
//! ordering label puts each first attempt of an event carrying that label in the line of its
//! key (the label's value), with a place (`ordering_seq`) given in ingest order by the key's
//! row in `ordering_key`:
//!
//! - the attempt at the head of the line is a normal pending attempt: claimed, leased, held by
//!   a circuit, parked, retried (a retry row keeps the key and the place) like any other;
//! - the others wait their turn, neither due nor finished, so no claim ever reads them;
//! - when the head succeeds, the next one becomes due; when it becomes a dead letter, the key
//!   either moves on (`continue`) or waits on it (`hold`) until it is redelivered, and the
//!   redelivery takes its place at the head;
//! - a replay, a resend or the redelivery of a dead letter that holds nothing joins the end of
//!   the line: one delivery per key is ever in flight.
//!
//! Ingest and outcomes both write the key's row, which serializes them per key on PostgreSQL
//! (the row lock) as on SQLite (the single writer). Disabling or deleting the subscription
//! fails what waits; changing or removing its label lets it go.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Most keys [`crate::OrderedDelivery::ordering_keys`] lists.
pub const KEYS_SHOWN: u32 = 100;

/// A key of an ordered subscription that is not idle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    pub key: String,
    /// The attempt now allowed to be delivered (pending, in flight or retrying), if any.
    pub head: Option<Uuid>,
    /// The dead letter the key waits on (`hold` policy), until it is redelivered.
    pub held_by: Option<Uuid>,
    pub held_since: Option<DateTime<Utc>>,
    /// Attempts waiting their turn behind the head.
    pub waiting: u64,
}
