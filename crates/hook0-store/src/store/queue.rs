//! The delivery queue as the worker sees it ([`DeliveryQueue`]), and what can be read of ordered
//! delivery's lines ([`OrderedDelivery`]).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome, OutcomePolicy};
use uuid::Uuid;

use crate::StoreResult;

/// The delivery queue at one instant ([`DeliveryQueue::queue_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// The instant the counts were taken at.
    pub at: DateTime<Utc>,
    /// Pending attempts due now (including those whose lease ran out).
    pub due: i64,
    /// Pending attempts due later (retries waiting for their delay).
    pub delayed: i64,
    /// Attempts leased to a worker whose lease has not run out.
    pub in_flight: i64,
    /// When the longest-waiting due attempt became due.
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// Subscriptions whose circuit breaker is open, and half-open.
    pub circuits_open: i64,
    pub circuits_half_open: i64,
}

impl QueueStats {
    /// How long the oldest due attempt has waited: the worker's lag.
    pub fn oldest_due_age(&self) -> Duration {
        self.oldest_due_at
            .and_then(|due| (self.at - due).to_std().ok())
            .unwrap_or(Duration::ZERO)
    }
}

/// What a claim leased.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub jobs: Vec<DeliveryJob>,
    /// What [`DeliveryQueue::next_due_at`] would answer right after the claim.
    pub next_due: NextDue,
}

/// When the earliest pending attempt becomes due, as a claim learned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextDue {
    /// The claim could not tell without another round trip: ask [`DeliveryQueue::next_due_at`].
    Unknown,
    /// The earliest pending attempt is due then (a claim that leased something always knows
    /// one pending attempt: its own lease's end).
    At(DateTime<Utc>),
}

impl NextDue {
    /// The due time [`DeliveryQueue::next_due_at`] would answer, when known.
    pub fn known(self) -> Option<DateTime<Utc>> {
        match self {
            NextDue::Unknown => None,
            NextDue::At(at) => Some(at),
        }
    }
}

/// Connections of a pool ([`crate::Store::pool_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

/// Ordered delivery per key (`crate::ordering`): what can be read of the keys' lines. The
/// lines themselves are kept by ingest, outcomes, redeliveries and subscription changes.
#[async_trait]
pub trait OrderedDelivery: Send + Sync {
    /// The subscription's keys that are not idle (held first, then the longest lines), at most
    /// [`crate::ordering::KEYS_SHOWN`]; empty for another application's subscription.
    async fn ordering_keys(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
    ) -> StoreResult<Vec<crate::ordering::KeyState>>;
}

/// The delivery queue: what the worker claims, reports and waits for.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Gives a leased attempt back, due at `due_at` (graceful shutdown).
    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()>;
    /// When the earliest pending attempt becomes due (including leased ones whose lease runs out).
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Resolves when new attempts may be due (in-process signal or database notification) or
    /// deliveries finished (freeing slots), or after `timeout` at the latest.
    async fn wait_for_work(&self, timeout: Duration);
    /// Like [`DeliveryQueue::wait_for_work`], for a worker that nothing blocks: finished deliveries
    /// that made no attempt due ([`crate::outcome_plan::OutcomePlan::makes_work_due`]) do
    /// not wake it (each would cost an empty claim). A backend that cannot tell them apart
    /// waits for both.
    async fn wait_for_new_work(&self, timeout: Duration) {
        self.wait_for_work(timeout).await;
    }
    /// Waits as [`DeliveryQueue::wait_for_work`] (`blocked`: a cap holds due attempts back) or
    /// [`DeliveryQueue::wait_for_new_work`], and meanwhile offers this process's ingests the
    /// *hand-off*: an ingest that creates attempts leases to `worker`, in its own transaction,
    /// those that a claim under `request` would take at once, and they are returned here,
    /// ready to send. At a light rate this spares the claim (a transaction and its statements)
    /// of every event. Empty when the wait ended otherwise (timeout, wake-up). A backend
    /// without a hand-off only waits.
    async fn wait_or_take_hand_off(
        &self,
        worker: &str,
        request: &ClaimRequest,
        timeout: Duration,
        blocked: bool,
    ) -> Vec<DeliveryJob> {
        let _ = (worker, request);
        if blocked {
            self.wait_for_work(timeout).await;
        } else {
            self.wait_for_new_work(timeout).await;
        }
        Vec::new()
    }
    /// How many pending attempts are due now, delayed (not yet due) and in flight (under an
    /// unexpired lease), and when the oldest due one became due: one cheap query, run on every
    /// metrics scrape and health check.
    async fn queue_stats(&self) -> StoreResult<QueueStats>;
    /// Leases due attempts to `worker` for `request.lease` (an attempt whose lease runs out
    /// before its outcome is recorded is due again), at most `request.limit`, fairly, as
    /// [`crate::fair_claim::plan`] decides: at most `max_in_flight_per_subscription` leased per
    /// subscription (all workers counted; the others parked until deliveries of that
    /// subscription finish), taken round-robin across subscriptions, high priority first within
    /// the per-class limits, none for a subscription whose circuit is open (those are held until
    /// its cool-down ends, their retry count untouched) and a single probe for one whose
    /// cool-down has ended.
    ///
    /// The answer of a claim that got fewer attempts than `request.limit` (the worker goes idle
    /// next) also tells, when the backend learned it in the claim's own statements, when the
    /// next attempt not just leased is due ([`Claimed::next_due`]), which saves the idle worker
    /// the round trip of [`DeliveryQueue::next_due_at`].
    async fn claim_attempts(&self, worker: &str, request: &ClaimRequest) -> StoreResult<Claimed>;
    /// Records outcomes: the response, success or failure, and the retry row when one is
    /// scheduled and the subscription still accepts deliveries; idempotent (an attempt already
    /// finished is skipped). In the same write: the circuit of each subscription
    /// moved by its outcomes (holding or releasing its pending attempts; a retry row of an open
    /// circuit is due when the cool-down ends), one parked attempt released per finished
    /// delivery, dead-letter marks on failed attempts with no retry, and the auto-disable of
    /// subscriptions failing for too long (pending attempts failed as dead letters, operational
    /// event recorded).
    async fn record_delivery_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()>;
}
