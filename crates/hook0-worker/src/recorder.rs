//! Writes delivery outcomes back to the store, batched: whatever has queued up while the
//! previous write ran goes out in the next single `record_delivery_outcomes` call (which also
//! moves circuits, marks dead letters and auto-disables), so a busy worker does not pay one
//! transaction per delivery.
//!
//! A worker at a light rate finds one outcome queued at a time, and so used to pay a transaction
//! per delivery after all (on PostgreSQL, the half of an event's database work). So the first
//! outcome of a batch waits up to [`LINGER`] for others. The wait is cut short as soon as one
//! subscription has [`LINGER_PER_SUBSCRIPTION`] outcomes in the batch: a lease stays counted
//! against its subscription's in-flight cap until its outcome is written, so a busy endpoint's
//! slots must not sit in the batch. A busy worker does not wait at all (its batches fill while
//! the previous write runs).
//!
//! An outcome is never dropped on a store error: the batch is retried with backoff, and the
//! bounded channel in front of it pushes back on the deliveries (and so on claiming) meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hook0_core::delivery::{DeliveryOutcome, OutcomePolicy};
use hook0_store::Store;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most outcomes written in one store call.
pub(crate) const MAX_BATCH: usize = 256;

/// How long the first outcome of a batch waits for company. Short beside anything that reads
/// outcomes (a retry is due seconds later; a circuit opens after several failures).
const LINGER: Duration = Duration::from_millis(10);

/// Outcomes of one subscription that end the wait: at most this many of its in-flight slots
/// are held by a waiting batch.
const LINGER_PER_SUBSCRIPTION: usize = 4;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Records outcomes until every sender is gone and the queue is drained.
pub(crate) async fn record(
    store: Arc<dyn Store>,
    policy: OutcomePolicy,
    mut outcomes: mpsc::Receiver<DeliveryOutcome>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while gather(&mut outcomes, &mut batch).await {
        write(store.as_ref(), &policy, &batch).await;
        batch.clear();
    }
}

/// Fills `batch` with what is queued, then with what arrives within [`LINGER`] while no
/// subscription has [`LINGER_PER_SUBSCRIPTION`] outcomes in it; false once the queue is closed
/// and empty.
async fn gather(
    outcomes: &mut mpsc::Receiver<DeliveryOutcome>,
    batch: &mut Vec<DeliveryOutcome>,
) -> bool {
    if outcomes.recv_many(batch, MAX_BATCH).await == 0 {
        return false;
    }
    let mut per_subscription: HashMap<Uuid, usize> = HashMap::new();
    let mut count = |added: &[DeliveryOutcome]| {
        for outcome in added {
            *per_subscription
                .entry(outcome.attempt.subscription_id)
                .or_default() += 1;
        }
        per_subscription
            .values()
            .any(|n| *n >= LINGER_PER_SUBSCRIPTION)
    };
    let mut busy = count(batch);
    let deadline = tokio::time::sleep(LINGER);
    tokio::pin!(deadline);
    while !busy && batch.len() < MAX_BATCH {
        let (before, room) = (batch.len(), MAX_BATCH - batch.len());
        tokio::select! {
            received = outcomes.recv_many(batch, room) => {
                if received == 0 {
                    break;
                }
                busy = count(&batch[before..]);
            }
            () = &mut deadline => break,
        }
    }
    true
}

async fn write(store: &dyn Store, policy: &OutcomePolicy, batch: &[DeliveryOutcome]) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match store.record_delivery_outcomes(batch, policy).await {
            Ok(()) => {
                tracing::trace!(outcomes = batch.len(), "outcomes recorded");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, outcomes = batch.len(), retry_in = ?backoff, "recording outcomes failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use hook0_core::delivery::AttemptRef;
    use hook0_core::model::Response;

    use super::*;

    fn outcome(subscription_id: Uuid) -> DeliveryOutcome {
        let application_id = Uuid::now_v7();
        DeliveryOutcome {
            attempt: AttemptRef {
                attempt_id: Uuid::now_v7(),
                application_id,
                event_id: Uuid::now_v7(),
                subscription_id,
                retry_count: 0,
            },
            succeeded: true,
            completed_at: Utc::now(),
            response: Response {
                id: Uuid::now_v7(),
                application_id,
                error_name: None,
                http_code: Some(200),
                headers: None,
                body: None,
                elapsed_time_ms: 1,
            },
            retry_at: None,
        }
    }

    /// Sends `outcome` after `after` (of the test's paused clock).
    fn send_later(
        queue: &mpsc::Sender<DeliveryOutcome>,
        after: Duration,
        outcome: DeliveryOutcome,
    ) {
        let queue = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            queue.send(outcome).await.unwrap();
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_outcome_waits_briefly_for_company() {
        let (queue, mut outcomes) = mpsc::channel(MAX_BATCH);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        queue.send(outcome(a)).await.unwrap();
        send_later(&queue, LINGER / 2, outcome(b));
        send_later(&queue, LINGER * 2, outcome(a));

        let mut batch = Vec::new();
        let started = tokio::time::Instant::now();
        assert!(gather(&mut outcomes, &mut batch).await);
        assert_eq!(
            batch.len(),
            2,
            "the one within the linger joins, the later one does not"
        );
        assert_eq!(started.elapsed(), LINGER);

        batch.clear();
        assert!(gather(&mut outcomes, &mut batch).await);
        assert_eq!(batch.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_subscription_is_written_without_waiting() {
        let (queue, mut outcomes) = mpsc::channel(MAX_BATCH);
        let busy = Uuid::now_v7();
        queue.send(outcome(Uuid::now_v7())).await.unwrap();
        for _ in 0..LINGER_PER_SUBSCRIPTION - 1 {
            queue.send(outcome(busy)).await.unwrap();
        }
        send_later(&queue, LINGER / 4, outcome(busy));
        send_later(&queue, LINGER / 2, outcome(busy));

        let mut batch = Vec::new();
        let started = tokio::time::Instant::now();
        assert!(gather(&mut outcomes, &mut batch).await);
        assert_eq!(
            batch.len(),
            LINGER_PER_SUBSCRIPTION + 1,
            "written once the subscription has its fill"
        );
        assert!(
            started.elapsed() < LINGER / 2,
            "not waiting for the next one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_queue_is_written_at_once_then_ends() {
        let (queue, mut outcomes) = mpsc::channel(MAX_BATCH);
        queue.send(outcome(Uuid::now_v7())).await.unwrap();
        drop(queue);

        let mut batch = Vec::new();
        let started = tokio::time::Instant::now();
        assert!(gather(&mut outcomes, &mut batch).await);
        assert_eq!(batch.len(), 1);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "no one is left to wait for"
        );
        batch.clear();
        assert!(!gather(&mut outcomes, &mut batch).await);
    }
}
