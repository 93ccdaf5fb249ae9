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
use hook0_core::model::{OnDeadLetter, Ordering, Subscription};
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

/// A subscription's ordering from its columns: the label (none: unordered) and the policy.
pub(crate) fn from_columns(label: Option<String>, on_dead_letter: &str) -> Option<Ordering> {
    Some(Ordering {
        label: label?,
        on_dead_letter: OnDeadLetter::parse(on_dead_letter).unwrap_or_default(),
    })
}

/// The ordering columns of a subscription: the label (none: unordered) and the policy.
pub(crate) fn columns(sub: &Subscription) -> (Option<&str>, &'static str) {
    match &sub.ordering {
        Some(o) => (Some(o.label.as_str()), o.on_dead_letter.as_str()),
        None => (None, OnDeadLetter::default().as_str()),
    }
}

/// What a subscription update does to its keys' lines: `Release` when the label changed or
/// went (what waits goes at once), `ContinueHeld` when the policy turned to `continue` (held
/// keys move on).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    None,
    Release,
    ContinueHeld,
}

pub(crate) fn change(before: Option<&Ordering>, after: Option<&Ordering>) -> Change {
    match (before, after) {
        (Some(old), Some(new)) if old.label == new.label => {
            if old.on_dead_letter == OnDeadLetter::Hold
                && new.on_dead_letter == OnDeadLetter::Continue
            {
                Change::ContinueHeld
            } else {
                Change::None
            }
        }
        (Some(_), _) => Change::Release,
        (None, _) => Change::None,
    }
}
