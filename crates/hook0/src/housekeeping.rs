//! Background housekeeping, in small batches so ingest never waits on it:
//! - events past their retention go, with their attempts and responses. On by default
//!   (upstream only reports unless told to delete): a webhook log is not an archive.
//! - tokens expired for longer than a grace period go (sessions add two rows per login). A
//!   deleted token is refused exactly like an expired one, so this never widens access.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hook0_store::{Store, StoreResult};
use tokio_util::sync::CancellationToken;

/// Rows deleted per transaction.
const BATCH: u32 = 500;
/// Pause between batches, leaving the database to ingest and deliveries.
const BREATHER: Duration = Duration::from_millis(50);

pub async fn purge_events(
    store: Arc<dyn Store>,
    retention_days: u32,
    period: Duration,
    shutdown: CancellationToken,
) {
    tracing::info!(
        retention_days,
        period_s = period.as_secs(),
        "event retention cleanup enabled"
    );
    every(period, &shutdown, || async {
        let deleted = in_batches(&shutdown, || {
            store.purge_expired_events(retention_days, BATCH)
        })
        .await;
        if deleted > 0 {
            tracing::info!(
                deleted_events = deleted,
                retention_days,
                "deleted events past their retention"
            );
        }
    })
    .await;
}

/// With `delete` false, only reports how many tokens could go (upstream's report-only mode).
/// Consumer portal sessions that ended past the grace are deleted either way.
pub async fn purge_tokens(
    store: Arc<dyn Store>,
    grace: Duration,
    delete: bool,
    period: Duration,
    shutdown: CancellationToken,
) {
    tracing::info!(
        grace = %humantime::format_duration(grace),
        period = %humantime::format_duration(period),
        delete,
        "expired token cleanup enabled"
    );
    let grace = chrono::TimeDelta::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    every(period, &shutdown, || async {
        // A grace period beyond the calendar keeps everything.
        let Some(expired_before) = chrono::Utc::now().checked_sub_signed(grace) else {
            return;
        };
        // Consumer portal sessions are ours, not upstream's tokens: one that ended more than
        // the grace ago is of no use to anyone, and always goes.
        let portal = in_batches(&shutdown, || {
            store.purge_portal_sessions(expired_before, BATCH)
        })
        .await;
        if portal > 0 {
            tracing::info!(deleted_portal_sessions = portal, "deleted ended portal sessions");
        }
        if !delete {
            match store.count_expired_tokens(expired_before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    expired_tokens = n,
                    "expired tokens past their grace period (set EXPIRED_TOKENS_CLEANUP_REPORT_AND_DELETE=true to delete them)"
                ),
                Err(error) => tracing::warn!(%error, "expired token report failed; next try in one period"),
            }
            return;
        }
        let deleted = in_batches(&shutdown, || {
            store.purge_expired_tokens(expired_before, BATCH)
        })
        .await;
        if deleted > 0 {
            tracing::info!(deleted_tokens = deleted, "deleted expired tokens");
        }
    })
    .await;
}

/// Runs `job` once per `period` until shutdown.
async fn every<F, Fut>(period: Duration, shutdown: &CancellationToken, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        job().await;
    }
}

/// Calls `purge` until a batch comes back short; returns the rows deleted. An error ends the
/// round (logged): the next period tries again.
async fn in_batches<F, Fut>(shutdown: &CancellationToken, mut purge: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        match purge().await {
            Ok(n) => {
                total += n;
                if n < u64::from(BATCH) || shutdown.is_cancelled() {
                    return total;
                }
                tokio::time::sleep(BREATHER).await;
            }
            Err(error) => {
                tracing::warn!(%error, "cleanup failed; next try in one period");
                return total;
            }
        }
    }
}
