//! Dead letters on SQLite: attempts that failed with no retry left carry `dead_lettered_at`;
//! redelivering one queues a fresh attempt (retry count 0) and sets `redelivered_at`, which
//! takes it out of the dead letters, so no dead letter is ever redelivered twice.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::DeadLetter;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

use super::attempts::{attempt, blob, ATTEMPT_COLUMNS};
use super::convert::*;
use super::{ordering, SqliteStore};
use crate::{DeadLetterFilter, DeadLetterRetry, DeadLetters, Redelivery, StoreResult};

pub fn list(c: &Connection, f: &DeadLetterFilter) -> StoreResult<Vec<DeadLetter>> {
    let mut sql = format!(
        "{ATTEMPT_COLUMNS} WHERE ra.application_id = ? AND ra.dead_lettered_at IS NOT NULL AND ra.redelivered_at IS NULL"
    );
    let mut args: Vec<Value> = vec![blob(f.application_id)];
    if let Some(id) = f.subscription_id {
        sql.push_str(" AND ra.subscription_id = ?");
        args.push(blob(id));
    }
    if let Some((at, id)) = f.before {
        sql.push_str(" AND (ra.dead_lettered_at, ra.id) < (?, ?)");
        args.push(Value::Integer(micros(at)));
        args.push(blob(id));
    }
    sql.push_str(" ORDER BY ra.dead_lettered_at DESC, ra.id DESC LIMIT ?");
    args.push(Value::Integer(f.limit.into()));
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), |row| {
            Ok(DeadLetter {
                attempt: attempt(row)?,
                dead_lettered_at: time(row.get("dead_lettered_at")?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Queues the redelivery of the dead letter `letter` (a first attempt of its event): at the
/// head of its key's line when it holds that key, else like any first attempt (due now, or at
/// the end of its key's line).
fn queue_redelivery(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    letter: Uuid,
    now: i64,
) -> StoreResult<Uuid> {
    if let Some(id) = ordering::redeliver_held(c, application_id, event_id, letter, now)? {
        return Ok(id);
    }
    ordering::queue_first(c, application_id, event_id, subscription_id, now)
}

fn mark_redelivered(c: &Connection, attempt_id: Uuid, now: i64) -> StoreResult<()> {
    c.prepare_cached("UPDATE request_attempt SET redelivered_at = ? WHERE id = ?")?
        .execute(params![now, attempt_id])?;
    Ok(())
}

/// `Some(is_enabled)` for a live subscription of the application.
fn subscription_enabled(
    c: &Connection,
    application_id: Uuid,
    subscription_id: Uuid,
) -> StoreResult<Option<bool>> {
    Ok(c
        .prepare_cached(
            "SELECT s.is_enabled FROM subscription s JOIN application a ON a.id = s.application_id
             WHERE s.id = ? AND s.application_id = ? AND s.deleted_at IS NULL AND a.deleted_at IS NULL",
        )?
        .query_row(params![subscription_id, application_id], |r| r.get(0))
        .optional()?)
}

pub fn retry(
    c: &Connection,
    application_id: Uuid,
    attempt_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<DeadLetterRetry> {
    let row: Option<(Uuid, Uuid, Option<i64>, Option<i64>)> = c
        .prepare_cached(
            "SELECT event_id, subscription_id, dead_lettered_at, redelivered_at FROM request_attempt
             WHERE application_id = ? AND id = ?",
        )?
        .query_row(params![application_id, attempt_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((event_id, subscription_id, dead_lettered_at, redelivered_at)) = row else {
        return Ok(DeadLetterRetry::NotFound);
    };
    if dead_lettered_at.is_none() || redelivered_at.is_some() {
        return Ok(DeadLetterRetry::NotADeadLetter);
    }
    if subscription_enabled(c, application_id, subscription_id)? != Some(true) {
        return Ok(DeadLetterRetry::SubscriptionDisabled);
    }
    let now = micros(now);
    let queued = queue_redelivery(
        c,
        application_id,
        event_id,
        subscription_id,
        attempt_id,
        now,
    )?;
    mark_redelivered(c, attempt_id, now)?;
    Ok(DeadLetterRetry::Queued { attempt_id: queued })
}

pub fn redeliver(
    c: &Connection,
    application_id: Uuid,
    subscription_id: Uuid,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<Redelivery> {
    match subscription_enabled(c, application_id, subscription_id)? {
        None => return Ok(Redelivery::SubscriptionNotFound),
        Some(false) => return Ok(Redelivery::SubscriptionDisabled),
        Some(true) => {}
    }
    let letters: Vec<(Uuid, Uuid)> = c
        .prepare_cached(
            "SELECT id, event_id FROM request_attempt
             WHERE subscription_id = ? AND dead_lettered_at IS NOT NULL AND redelivered_at IS NULL
               AND dead_lettered_at >= ?
             ORDER BY dead_lettered_at, id",
        )?
        .query_map(
            params![subscription_id, since.map_or(i64::MIN, micros)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let now = micros(now);
    // One new attempt per event: an event that died twice is still delivered once more. A
    // dead letter a key waits on goes first, to the head of its line; the others then join
    // the end of theirs, oldest first.
    let mut queued = HashSet::new();
    for (id, event_id) in &letters {
        if ordering::redeliver_held(c, application_id, *event_id, *id, now)?.is_some() {
            queued.insert(*event_id);
        }
    }
    for (id, event_id) in letters {
        if queued.insert(event_id) {
            ordering::queue_first(c, application_id, event_id, subscription_id, now)?;
        }
        mark_redelivered(c, id, now)?;
    }
    Ok(Redelivery::Queued {
        count: queued.len(),
    })
}

#[async_trait]
impl DeadLetters for SqliteStore {
    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> StoreResult<Vec<DeadLetter>> {
        let filter = filter.clone();
        self.db.read(move |c| list(c, &filter)).await
    }
    async fn retry_dead_letter(
        &self,
        application_id: Uuid,
        attempt_id: Uuid,
    ) -> StoreResult<DeadLetterRetry> {
        let now = self.clock.now();
        let retried = self
            .db
            .write(move |c| retry(c, application_id, attempt_id, now))
            .await?;
        if matches!(retried, DeadLetterRetry::Queued { .. }) {
            self.signal_work();
        }
        Ok(retried)
    }
    async fn redeliver_dead_letters(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Redelivery> {
        let now = self.clock.now();
        let redelivered = self
            .db
            .write(move |c| redeliver(c, application_id, subscription_id, since, now))
            .await?;
        if matches!(redelivered, Redelivery::Queued { count } if count > 0) {
            self.signal_work();
        }
        Ok(redelivered)
    }
}
