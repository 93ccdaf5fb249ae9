//! Background housekeeping: deletes events past their retention, with their attempts and
//! responses, in small batches so ingest never waits on it. On by default (upstream only reports
//! unless told to delete): a webhook log is not an archive.

use std::sync::Arc;
use std::time::Duration;

use hook0_store::Store;
use tokio_util::sync::CancellationToken;

/// Events deleted per transaction.
const BATCH: u32 = 500;
/// Pause between batches, leaving the database to ingest and deliveries.
const BREATHER: Duration = Duration::from_millis(50);

pub async fn run(
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
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let mut total = 0;
        loop {
            match store.purge_expired_events(retention_days, BATCH).await {
                Ok(n) => {
                    total += n;
                    if n < u64::from(BATCH) || shutdown.is_cancelled() {
                        break;
                    }
                    tokio::time::sleep(BREATHER).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "event retention cleanup failed; next try in one period");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(
                deleted_events = total,
                retention_days,
                "deleted events past their retention"
            );
        }
    }
}
