//! The delivery queue on PostgreSQL, besides the claim (`claim.rs`) and the outcomes
//! (`outcomes.rs`). A pending attempt has a `due_at`; a claim moves it to the end of the lease,
//! so an attempt whose worker died becomes due again by itself; finishing clears it, which
//! takes the row out of the partial index the claim scans. Writers of attempt rows lock them in
//! id order, after any subscription rows they need, so they never deadlock.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome, OutcomePolicy};
use uuid::Uuid;

use super::wakeup::notify_work;
use super::PostgresStore;
use crate::{Claimed, DeliveryQueue, QueueStats, StoreResult};

/// Gives the leased attempts `ids` back, due at `now` (those finished meanwhile are left
/// alone), locked in id order as every writer locks them; other processes are told with a
/// `NOTIFY` when any was given back.
pub(super) async fn release(
    pool: &sqlx::PgPool,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = super::begin_delivery(pool, true).await?;
    let released = sqlx::query(
        "UPDATE request_attempt SET picked_at = NULL, due_at = $1
         WHERE due_at IS NOT NULL AND id IN (
             SELECT id FROM request_attempt WHERE id = ANY($2) AND due_at IS NOT NULL
             ORDER BY id FOR UPDATE)",
    )
    .bind(now)
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    if released.rows_affected() > 0 {
        notify_work(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl DeliveryQueue for PostgresStore {
    /// Gives leased attempts back, due now (a worker shutting down).
    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        if attempt_ids.is_empty() {
            return Ok(());
        }
        release(&self.pool, attempt_ids, self.clock.now()).await?;
        self.signal_work();
        Ok(())
    }
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(due_at) FROM request_attempt WHERE due_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }
    async fn wait_for_work(&self, timeout: Duration) {
        self.wakeups.wait(timeout).await;
    }
    async fn wait_for_new_work(&self, timeout: Duration) {
        self.wakeups.wait_new(timeout).await;
    }
    async fn wait_or_take_hand_off(
        &self,
        worker: &str,
        request: &ClaimRequest,
        timeout: Duration,
        blocked: bool,
    ) -> Vec<DeliveryJob> {
        let wait = async {
            if blocked {
                self.wakeups.wait(timeout).await;
            } else {
                self.wakeups.wait_new(timeout).await;
            }
        };
        self.hand_off.offer_while(worker, request, wait).await
    }
    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        self.count_queue().await
    }
    async fn claim_attempts(&self, worker: &str, request: &ClaimRequest) -> StoreResult<Claimed> {
        self.lease_due_attempts(worker, request).await
    }
    async fn record_delivery_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()> {
        self.write_outcomes(outcomes, policy).await
    }
}
