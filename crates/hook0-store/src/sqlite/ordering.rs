//! Ordered delivery per key on SQLite (migration 9; the rules in `crate::ordering`). Every
//! first attempt of an ordered subscription enters its key's line through [`queue_attempt`];
//! outcomes move the line on with [`advance`] or stop it with [`hold`]. The single writer makes
//! each of these atomic with the write that calls it.

use async_trait::async_trait;
use hook0_core::model::{OnDeadLetter, StringMap};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::ordering::{KeyState, KEYS_SHOWN};
use crate::{OrderedDelivery, StoreResult};

/// Inserts a first attempt (retry count 0) of the event for the subscription, created at
/// `now`. With a `key`, it takes the next place in the key's line: due at `now` when the key
/// is idle, waiting its turn (not due) otherwise. Returns its id.
pub fn queue_attempt(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    key: Option<&str>,
    now: i64,
) -> StoreResult<Uuid> {
    let (seq, due_at) = match key {
        None => (None, Some(now)),
        Some(key) => {
            let (seq, head): (i64, i64) = c
                .prepare_cached(
                    "INSERT INTO ordering_key (subscription_id, key, next_seq, head_seq) VALUES (?, ?, 1, 0)
                     ON CONFLICT (subscription_id, key) DO UPDATE SET next_seq = next_seq + 1
                     RETURNING next_seq - 1, head_seq",
                )?
                .query_row(params![subscription_id, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            (Some(seq), (seq == head).then_some(now))
        }
    };
    insert(
        c,
        application_id,
        event_id,
        subscription_id,
        (key, seq),
        due_at,
        now,
    )
}

/// Inserts a first attempt created at `now`, due at `due_at` (none: waiting its turn), at
/// `place` in its key's line (none: unordered); its id.
fn insert(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    (key, seq): (Option<&str>, Option<i64>),
    due_at: Option<i64>,
    now: i64,
) -> StoreResult<Uuid> {
    let id = Uuid::now_v7();
    c.prepare_cached(
        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at, due_at,
             retry_count, ordering_key, ordering_seq)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
    )?
    .execute(params![id, application_id, event_id, subscription_id, now, due_at, key, seq])?;
    Ok(id)
}

/// Inserts one first attempt of a stored event for the subscription: at the end of its key's
/// line when the subscription orders deliveries and the event carries the label, due now
/// otherwise (a resend, a test event, a redelivery that holds no key).
pub fn queue_first(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    now: i64,
) -> StoreResult<Uuid> {
    let key = key_of(c, application_id, event_id, subscription_id)?;
    queue_attempt(
        c,
        application_id,
        event_id,
        subscription_id,
        key.as_deref(),
        now,
    )
}

/// The key an event of the application takes at the subscription: the value of the
/// subscription's ordering label among the event's labels.
fn key_of(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
) -> StoreResult<Option<String>> {
    let row: Option<(Option<String>, String)> = c
        .prepare_cached(
            "SELECT s.ordering_label, e.labels FROM subscription s
             JOIN event e ON e.application_id = s.application_id AND e.id = ?
             WHERE s.id = ? AND s.application_id = ?",
        )?
        .query_row(params![event_id, subscription_id, application_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((Some(label), labels)) = row else {
        return Ok(None);
    };
    let mut labels: StringMap = from_json(&labels)?;
    Ok(labels.remove(&label))
}

/// The key's line moves on, after its current attempt succeeded or became a dead letter the
/// key does not hold on: its next waiting attempt becomes due at `now`, or the key falls idle
/// (its row is deleted) when none waits.
pub fn advance(c: &Connection, subscription_id: Uuid, key: &str, now: i64) -> StoreResult<()> {
    let next: Option<(i64, i64)> = c
        .prepare_cached(
            "SELECT rowid, ordering_seq FROM request_attempt INDEXED BY request_attempt_ordering_waiting
             WHERE subscription_id = ? AND ordering_key = ?
               AND due_at IS NULL AND succeeded_at IS NULL AND failed_at IS NULL
             ORDER BY ordering_seq LIMIT 1",
        )?
        .query_row(params![subscription_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match next {
        Some((rowid, seq)) => {
            c.prepare_cached("UPDATE request_attempt SET due_at = ? WHERE rowid = ?")?
                .execute(params![now, rowid])?;
            c.prepare_cached(
                "UPDATE ordering_key SET head_seq = ?, held_by = NULL, held_since = NULL
                 WHERE subscription_id = ? AND key = ?",
            )?
            .execute(params![seq, subscription_id, key])?;
        }
        None => {
            // Idle: the row goes (the next event of the key starts a new line), so the table
            // holds only the keys with something in play.
            c.prepare_cached("DELETE FROM ordering_key WHERE subscription_id = ? AND key = ?")?
                .execute(params![subscription_id, key])?;
        }
    }
    Ok(())
}

/// The key waits on `attempt_id`, a dead letter, until it is redelivered.
pub fn hold(
    c: &Connection,
    subscription_id: Uuid,
    key: &str,
    attempt_id: Uuid,
    at: i64,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE ordering_key SET held_by = ?, held_since = ? WHERE subscription_id = ? AND key = ?",
    )?
    .execute(params![attempt_id, at, subscription_id, key])?;
    Ok(())
}

/// What the subscription does when a key's delivery becomes a dead letter.
pub fn policy_of(c: &Connection, subscription_id: Uuid) -> StoreResult<OnDeadLetter> {
    let policy: Option<String> = c
        .prepare_cached("SELECT ordering_on_dead_letter FROM subscription WHERE id = ?")?
        .query_row([subscription_id], |r| r.get(0))
        .optional()?;
    Ok(policy
        .as_deref()
        .and_then(OnDeadLetter::parse)
        .unwrap_or_default())
}

/// Redelivering a dead letter: when it holds its key, the redelivery takes its place at the
/// head of the line and the hold ends; returns the new attempt then, `None` otherwise.
pub fn redeliver_held(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    letter: Uuid,
    now: i64,
) -> StoreResult<Option<Uuid>> {
    let held: Option<(Uuid, String, i64)> = c
        .prepare_cached(
            "UPDATE ordering_key SET held_by = NULL, held_since = NULL WHERE held_by = ?
             RETURNING subscription_id, key, head_seq",
        )?
        .query_row([letter], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((subscription_id, key, seq)) = held else {
        return Ok(None);
    };
    let place = (Some(key.as_str()), Some(seq));
    insert(
        c,
        application_id,
        event_id,
        subscription_id,
        place,
        Some(now),
        now,
    )
    .map(Some)
}

/// The subscription stops delivering (disabled or deleted): the attempts waiting in its
/// lines fail with the pending ones (as dead letters when it was auto-disabled), and its
/// lines are forgotten.
pub fn fail_waiting(
    c: &Connection,
    subscription_id: Uuid,
    now: i64,
    dead_letter: bool,
) -> StoreResult<()> {
    let set = if dead_letter {
        "failed_at = ?1, dead_lettered_at = ?1"
    } else {
        "failed_at = ?1"
    };
    settle_waiting(c, subscription_id, set, now)
}

/// The subscription's ordering label changed or was removed: whatever waits is let go (due at
/// `now`, the old lines no longer bind) and the lines are forgotten.
pub fn release_all(c: &Connection, subscription_id: Uuid, now: i64) -> StoreResult<()> {
    settle_waiting(c, subscription_id, "due_at = ?1", now)
}

/// Applies `set` (its `?1` is `now`) to every attempt waiting in the subscription's lines,
/// then forgets the lines.
fn settle_waiting(c: &Connection, subscription_id: Uuid, set: &str, now: i64) -> StoreResult<()> {
    c.prepare_cached(&format!(
        "UPDATE request_attempt SET {set} WHERE rowid IN (
             SELECT rowid FROM request_attempt INDEXED BY request_attempt_ordering_waiting
             WHERE subscription_id = ?2 AND due_at IS NULL AND succeeded_at IS NULL AND failed_at IS NULL)"
    ))?
    .execute(params![now, subscription_id])?;
    c.prepare_cached("DELETE FROM ordering_key WHERE subscription_id = ?")?
        .execute([subscription_id])?;
    Ok(())
}

/// The subscription now continues past dead letters: the keys held on one move on.
pub fn continue_held(c: &Connection, subscription_id: Uuid, now: i64) -> StoreResult<()> {
    let held: Vec<String> = c
        .prepare_cached(
            "SELECT key FROM ordering_key WHERE subscription_id = ? AND held_by IS NOT NULL",
        )?
        .query_map([subscription_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for key in held {
        advance(c, subscription_id, &key, now)?;
    }
    Ok(())
}

#[async_trait]
impl OrderedDelivery for SqliteStore {
    async fn ordering_keys(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
    ) -> StoreResult<Vec<KeyState>> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT k.key, k.held_by, k.held_since,
                            (SELECT COUNT(*) FROM request_attempt ra INDEXED BY request_attempt_ordering_waiting
                             WHERE ra.subscription_id = k.subscription_id AND ra.ordering_key = k.key
                               AND ra.due_at IS NULL AND ra.succeeded_at IS NULL AND ra.failed_at IS NULL),
                            (SELECT ra.id FROM request_attempt ra
                             WHERE ra.subscription_id = k.subscription_id AND ra.ordering_key = k.key
                               AND ra.ordering_seq = k.head_seq AND ra.due_at IS NOT NULL LIMIT 1)
                     FROM ordering_key k JOIN subscription s ON s.id = k.subscription_id
                     WHERE k.subscription_id = ? AND s.application_id = ? AND TRUE
                     ORDER BY k.held_since IS NULL, k.held_since, 4 DESC, k.key
                     LIMIT ?",
                )?;
                let keys = stmt
                    .query_map(params![subscription_id, application_id, KEYS_SHOWN], |r| {
                        Ok(KeyState {
                            key: r.get(0)?,
                            held_by: r.get(1)?,
                            held_since: opt_time(r.get(2)?),
                            waiting: r.get::<_, i64>(3)?.max(0) as u64,
                            head: r.get(4)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(keys)
            })
            .await
    }
}
