//! The queue's gauges for `/metrics` and `/health`, in one pass over the pending attempts (the
//! partial index on `due_at` holds only those, so finished history is never read).

use chrono::{DateTime, Utc};

use super::PostgresStore;
use crate::{PoolStats, QueueStats, StoreResult};

impl PostgresStore {
    pub(super) async fn count_queue(&self) -> StoreResult<QueueStats> {
        let (due, delayed, in_flight, oldest_due_at, at): (
            i64,
            i64,
            i64,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
        ) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE due_at <= $1),
                    count(*) FILTER (WHERE due_at > $1 AND picked_at IS NULL),
                    count(*) FILTER (WHERE due_at > $1 AND picked_at IS NOT NULL),
                    min(due_at) FILTER (WHERE due_at <= $1),
                    $1::timestamptz
             FROM request_attempt WHERE due_at IS NOT NULL",
        )
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?;
        let (circuits_open, circuits_half_open): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE circuit_state = 'open'),
                    count(*) FILTER (WHERE circuit_state = 'half_open')
             FROM subscription_health",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            at,
            due,
            delayed,
            in_flight,
            oldest_due_at,
            circuits_open,
            circuits_half_open,
        })
    }

    pub(super) fn connections(&self) -> PoolStats {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(open);
        PoolStats {
            idle,
            in_use: open - idle,
            max: self.pool.options().get_max_connections(),
        }
    }
}
