//! Retention on SQLite: expired events go with their attempts and responses, a batch at a time;
//! an event still to be delivered (pending, or waiting in a key's line) or holding a key stays.

use async_trait::async_trait;
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{Retention, StoreResult};

const MICROS_PER_DAY: i64 = 86_400_000_000;

pub fn purge_expired_events(
    c: &Connection,
    default_retention_days: u32,
    batch: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> StoreResult<u64> {
    let now = micros(now);
    let apps: Vec<(Uuid, Option<i64>)> = c
        .prepare_cached("SELECT id, retention_days FROM application")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // Per application, so the (application_id, received_at) index finds the old events.
    let mut select = c.prepare_cached(
        "SELECT e.id FROM event e WHERE e.application_id = ? AND e.received_at < ?
           AND NOT EXISTS (SELECT 1 FROM request_attempt ra WHERE ra.application_id = e.application_id AND ra.event_id = e.id
                             AND ((ra.succeeded_at IS NULL AND ra.failed_at IS NULL)
                                  OR EXISTS (SELECT 1 FROM ordering_key k WHERE k.held_by = ra.id)))
         ORDER BY e.received_at LIMIT ?",
    )?;
    let mut doomed: Vec<(Uuid, Uuid)> = Vec::new();
    for (app, days) in apps {
        let remaining = i64::from(batch) - doomed.len() as i64;
        if remaining <= 0 {
            break;
        }
        let cutoff = now - days.unwrap_or(i64::from(default_retention_days)) * MICROS_PER_DAY;
        let ids = select.query_map(params![app, cutoff, remaining], |r| r.get(0))?;
        for id in ids {
            doomed.push((app, id?));
        }
    }
    let mut responses = c.prepare_cached(
        "DELETE FROM response WHERE id IN
           (SELECT response_id FROM request_attempt WHERE application_id = ? AND event_id = ?)",
    )?;
    let mut attempts =
        c.prepare_cached("DELETE FROM request_attempt WHERE application_id = ? AND event_id = ?")?;
    let mut events = c.prepare_cached("DELETE FROM event WHERE application_id = ? AND id = ?")?;
    for (app, id) in &doomed {
        responses.execute(params![app, id])?;
        attempts.execute(params![app, id])?;
        events.execute(params![app, id])?;
    }
    Ok(doomed.len() as u64)
}

#[async_trait]
impl Retention for SqliteStore {
    async fn purge_expired_events(
        &self,
        default_retention_days: u32,
        batch: u32,
    ) -> StoreResult<u64> {
        let now = self.clock.now();
        self.db
            .write(move |c| purge_expired_events(c, default_retention_days, batch, now))
            .await
    }
}
