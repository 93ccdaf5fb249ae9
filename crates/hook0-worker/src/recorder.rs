//! Writes delivery outcomes back to the store, batched: whatever has queued up while the
//! previous write ran goes out in the next single `record_delivery_outcomes` call (which also
//! moves circuits, marks dead letters and auto-disables), so a busy worker does not pay one
//! transaction per delivery.
//!
//! An outcome is never dropped on a store error: the batch is retried with backoff, and the
//! bounded channel in front of it pushes back on the deliveries (and so on claiming) meanwhile.

use std::sync::Arc;
use std::time::Duration;

use hook0_core::delivery::{DeliveryOutcome, OutcomePolicy};
use hook0_store::Store;
use tokio::sync::mpsc;

/// Most outcomes written in one store call.
pub(crate) const MAX_BATCH: usize = 256;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Records outcomes until every sender is gone and the queue is drained.
pub(crate) async fn record(
    store: Arc<dyn Store>,
    policy: OutcomePolicy,
    mut outcomes: mpsc::Receiver<DeliveryOutcome>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while outcomes.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write(store.as_ref(), &policy, &batch).await;
        batch.clear();
    }
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
