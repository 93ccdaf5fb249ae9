//! The queue's gauges for `/metrics` and `/health`, in one pass over the pending attempts (the
//! partial index on `due_at` holds only those, so finished history is never read).

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::convert::*;
use crate::{QueueStats, StoreResult};

pub fn queue_stats(c: &Connection, now: DateTime<Utc>) -> StoreResult<QueueStats> {
    let at = now;
    let (due, delayed, in_flight, oldest) = c
        .prepare_cached(
            "SELECT COALESCE(SUM(due_at <= ?1), 0),
                    COALESCE(SUM(due_at > ?1 AND picked_at IS NULL), 0),
                    COALESCE(SUM(due_at > ?1 AND picked_at IS NOT NULL), 0),
                    MIN(CASE WHEN due_at <= ?1 THEN due_at END)
             FROM request_attempt WHERE due_at IS NOT NULL",
        )?
        .query_row([micros(at)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, Option<i64>>(3)?))
        })?;
    let (circuits_open, circuits_half_open) = c
        .prepare_cached(
            "SELECT COALESCE(SUM(circuit_state = 'open'), 0), COALESCE(SUM(circuit_state = 'half_open'), 0)
             FROM subscription_health",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(QueueStats {
        at,
        due,
        delayed,
        in_flight,
        oldest_due_at: opt_time(oldest),
        circuits_open,
        circuits_half_open,
    })
}
