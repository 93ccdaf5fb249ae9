//! Ordered delivery per key on PostgreSQL (migration 9; the rules in `crate::ordering`). Ingest
//! and replay place their attempts in one statement ([`place_attempts`]); outcomes,
//! redeliveries and subscription changes move the lines here. Every writer of a line locks
//! the key's row first, then reads the line in a later statement (a fresh snapshot under READ
//! COMMITTED): an ingest that placed an attempt either committed before (and it is seen) or
//! waits for the row. Rows are locked in (subscription, key) order.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::{OnDeadLetter, StringMap};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use crate::ordering::{KeyState, KEYS_SHOWN};
use crate::{OrderedDelivery, StoreResult};

/// A time-ordered UUIDv7 made in SQL, as the SQLite store's ids are.
const UUID_V7: &str = "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                   PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                       FROM 3)
                   FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid";

/// Query tail that inserts the first attempts of a CTE `matching(id, event_id, application_id,
/// created_at, key, n, lease_until, leased_at, worker)`: one row per subscription to deliver an
/// event to, `key` its ordering key (NULL: unordered), `n` the event's place in the statement.
/// Each key's row gets the places of its new attempts, in `n` order; an attempt is due at
/// `created_at` when its place is the head, waiting its turn otherwise. One due with a
/// `lease_until` is written leased already (at `leased_at`, to `worker`: the hand-off).
/// Defines `attempts` (RETURNING `id`, `event_id`, `subscription_id`, `due_at`, `picked_at`).
pub(super) fn place_attempts() -> String {
    format!(
        "lines AS (
        SELECT id AS subscription_id, key, COUNT(*) AS taken FROM matching
        WHERE key IS NOT NULL GROUP BY 1, 2),
    places AS (
        INSERT INTO ordering_key (subscription_id, key, next_seq, head_seq)
        SELECT subscription_id, key, taken, 0 FROM lines ORDER BY subscription_id, key
        ON CONFLICT (subscription_id, key)
            DO UPDATE SET next_seq = ordering_key.next_seq + EXCLUDED.next_seq
        RETURNING subscription_id, key, next_seq, head_seq),
    placed AS (
        SELECT m.*, p.head_seq,
               p.next_seq - l.taken + ROW_NUMBER() OVER (PARTITION BY m.id, m.key ORDER BY m.n) - 1
                   AS seq
        FROM matching m
        LEFT JOIN lines l ON l.subscription_id = m.id AND l.key = m.key
        LEFT JOIN places p ON p.subscription_id = m.id AND p.key = m.key),
    attempts AS (
        INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                                     due_at, picked_at, worker_name, retry_count, ordering_key,
                                     ordering_seq)
        SELECT {UUID_V7}, m.application_id, m.event_id, m.id, m.created_at,
               CASE WHEN m.due THEN COALESCE(m.lease_until, m.created_at) END,
               CASE WHEN m.due THEN m.leased_at END, CASE WHEN m.due THEN m.worker END, 0,
               m.key, CASE WHEN m.key IS NOT NULL THEN m.seq END
        FROM (SELECT p.*, p.key IS NULL OR p.seq = p.head_seq AS due FROM placed p) m
        RETURNING id, event_id, subscription_id, due_at, picked_at)"
    )
}

/// Inserts one first attempt (retry count 0) of the event for the subscription, created at
/// `now`: in its key's line when `key` is given (due when the key is idle), due now otherwise.
pub async fn queue_attempt(
    c: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    key: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let (seq, due_at) = match key {
        None => (None, Some(now)),
        Some(key) => {
            let (seq, head): (i64, i64) = sqlx::query_as(
                "INSERT INTO ordering_key (subscription_id, key, next_seq, head_seq) VALUES ($1, $2, 1, 0)
                 ON CONFLICT (subscription_id, key) DO UPDATE SET next_seq = ordering_key.next_seq + 1
                 RETURNING next_seq - 1, head_seq",
            )
            .bind(subscription_id)
            .bind(key)
            .fetch_one(&mut *c)
            .await?;
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
    .await
}

async fn insert(
    c: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    (key, seq): (Option<&str>, Option<i64>),
    due_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at, due_at,
             retry_count, ordering_key, ordering_seq)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
    )
    .bind(id)
    .bind(application_id)
    .bind(event_id)
    .bind(subscription_id)
    .bind(now)
    .bind(due_at)
    .bind(key)
    .bind(seq)
    .execute(&mut *c)
    .await?;
    Ok(id)
}

/// The key an event takes at the subscription: the value of the subscription's ordering label
/// among the event's labels.
async fn key_of(
    c: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
) -> StoreResult<Option<String>> {
    let row: Option<(Option<String>, Json<StringMap>)> = sqlx::query_as(
        "SELECT s.ordering_label, e.labels FROM subscription s
         JOIN event e ON e.application_id = s.application_id AND e.id = $1
         WHERE s.id = $2 AND s.application_id = $3",
    )
    .bind(event_id)
    .bind(subscription_id)
    .bind(application_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some((Some(label), Json(mut labels))) = row else {
        return Ok(None);
    };
    Ok(labels.remove(&label))
}

/// Inserts one first attempt of a stored event for the subscription: at the end of its key's
/// line when the subscription orders deliveries and the event carries the label, due now
/// otherwise (a resend, a test event, a redelivery that holds no key).
pub async fn queue_first(
    c: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let key = key_of(c, application_id, event_id, subscription_id).await?;
    queue_attempt(
        c,
        application_id,
        event_id,
        subscription_id,
        key.as_deref(),
        now,
    )
    .await
}

/// Locks the rows of these keys, in (subscription, key) order, and reads each one's
/// subscription's dead-letter policy: what an outcome batch does before it moves them.
pub async fn lock_keys(
    c: &mut PgConnection,
    keys: &[(Uuid, String)],
) -> StoreResult<HashMap<Uuid, OnDeadLetter>> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    let (subscriptions, names): (Vec<Uuid>, Vec<String>) = keys.into_iter().unzip();
    // The count makes the locking read run to its end (a CTE only runs as far as it is read).
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "WITH locked AS MATERIALIZED (
             SELECT subscription_id FROM ordering_key WHERE (subscription_id, key) IN
                 (SELECT * FROM UNNEST($1::uuid[], $2::text[]))
             ORDER BY subscription_id, key FOR UPDATE)
         SELECT s.id, s.ordering_on_dead_letter, (SELECT COUNT(*) FROM locked)
         FROM subscription s WHERE s.id = ANY($1)",
    )
    .bind(&subscriptions)
    .bind(&names)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, policy, _)| (id, OnDeadLetter::parse(&policy).unwrap_or_default()))
        .collect())
}

/// Moves these keys' lines on, in one statement: each key's next waiting attempt becomes due
/// at `now`, or the key falls idle (its row is deleted) when none waits. The caller locked
/// their rows ([`lock_keys`]), so this statement's snapshot sees every attempt an ingest
/// placed in them.
pub async fn advance_all(
    c: &mut PgConnection,
    keys: &[(Uuid, String)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let (subscriptions, names): (Vec<Uuid>, Vec<String>) = keys.iter().cloned().unzip();
    sqlx::query(
        "WITH keys AS (SELECT * FROM UNNEST($1::uuid[], $2::text[]) AS k(subscription_id, key)),
         next AS MATERIALIZED (
             SELECT k.subscription_id, k.key, n.id, n.ordering_seq
             FROM keys k
             LEFT JOIN LATERAL (
                 SELECT id, ordering_seq FROM request_attempt
                 WHERE subscription_id = k.subscription_id AND ordering_key = k.key
                   AND due_at IS NULL AND succeeded_at IS NULL AND failed_at IS NULL
                 ORDER BY ordering_seq LIMIT 1 FOR UPDATE) n ON true),
         promoted AS (
             UPDATE request_attempt ra SET due_at = $3 FROM next
             WHERE next.id IS NOT NULL AND ra.id = next.id RETURNING 1),
         moved AS (
             UPDATE ordering_key o SET head_seq = next.ordering_seq, held_by = NULL, held_since = NULL
             FROM next
             WHERE next.id IS NOT NULL AND o.subscription_id = next.subscription_id
               AND o.key = next.key RETURNING 1),
         idle AS (
             DELETE FROM ordering_key o USING next
             WHERE next.id IS NULL AND o.subscription_id = next.subscription_id
               AND o.key = next.key RETURNING 1)
         SELECT (SELECT COUNT(*) FROM promoted), (SELECT COUNT(*) FROM moved),
                (SELECT COUNT(*) FROM idle)",
    )
    .bind(&subscriptions)
    .bind(&names)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The key waits on `attempt_id`, a dead letter, until it is redelivered.
pub async fn hold(
    c: &mut PgConnection,
    subscription_id: Uuid,
    key: &str,
    attempt_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE ordering_key SET held_by = $1, held_since = $2 WHERE subscription_id = $3 AND key = $4",
    )
    .bind(attempt_id)
    .bind(at)
    .bind(subscription_id)
    .bind(key)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Redelivering a dead letter: when it holds its key, the redelivery takes its place at the
/// head of the line and the hold ends; returns the new attempt then, `None` otherwise.
pub async fn redeliver_held(
    c: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    letter: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<Uuid>> {
    let held: Option<(Uuid, String, i64)> = sqlx::query_as(
        "UPDATE ordering_key SET held_by = NULL, held_since = NULL WHERE held_by = $1
         RETURNING subscription_id, key, head_seq",
    )
    .bind(letter)
    .fetch_optional(&mut *c)
    .await?;
    let Some((subscription_id, key, seq)) = held else {
        return Ok(None);
    };
    let id = insert(
        c,
        application_id,
        event_id,
        subscription_id,
        (Some(&key), Some(seq)),
        Some(now),
        now,
    )
    .await?;
    Ok(Some(id))
}

/// The subscription stops delivering (disabled or deleted): the attempts waiting in its
/// lines fail with the pending ones (as dead letters when it was auto-disabled), and its lines
/// are forgotten. The caller holds the subscription's row.
pub async fn fail_waiting(
    c: &mut PgConnection,
    subscription_id: Uuid,
    now: DateTime<Utc>,
    dead_letter: bool,
) -> StoreResult<()> {
    let set = if dead_letter {
        "failed_at = $1, dead_lettered_at = $1"
    } else {
        "failed_at = $1"
    };
    settle_waiting(c, subscription_id, set, now).await
}

/// The subscription's ordering label changed or was removed: whatever waits is let go (due at
/// `now`, the old lines no longer bind) and the lines are forgotten.
pub async fn release_all(
    c: &mut PgConnection,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    settle_waiting(c, subscription_id, "due_at = $1", now).await
}

/// Applies `set` (its `$1` is `now`) to every attempt waiting in the subscription's lines,
/// locked in id order like every other writer, then forgets the lines.
async fn settle_waiting(
    c: &mut PgConnection,
    subscription_id: Uuid,
    set: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE request_attempt SET {set}
         WHERE id IN (SELECT id FROM request_attempt
                      WHERE subscription_id = $2 AND due_at IS NULL AND succeeded_at IS NULL
                        AND failed_at IS NULL
                      ORDER BY id FOR UPDATE)
           AND due_at IS NULL AND succeeded_at IS NULL AND failed_at IS NULL"
    ))
    .bind(now)
    .bind(subscription_id)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "DELETE FROM ordering_key WHERE (subscription_id, key) IN (
             SELECT subscription_id, key FROM ordering_key WHERE subscription_id = $1
             ORDER BY key FOR UPDATE)",
    )
    .bind(subscription_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The subscription now continues past dead letters: the keys held on one move on.
pub async fn continue_held(
    c: &mut PgConnection,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // Locked (in key order, as every writer of lines) before they move.
    let held: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT subscription_id, key FROM ordering_key
         WHERE subscription_id = $1 AND held_by IS NOT NULL ORDER BY key FOR UPDATE",
    )
    .bind(subscription_id)
    .fetch_all(&mut *c)
    .await?;
    advance_all(c, &held, now).await
}

#[async_trait]
impl OrderedDelivery for PostgresStore {
    async fn ordering_keys(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
    ) -> StoreResult<Vec<KeyState>> {
        let rows = sqlx::query(
            "SELECT k.key, k.held_by, k.held_since,
                    (SELECT COUNT(*) FROM request_attempt ra
                     WHERE ra.subscription_id = k.subscription_id AND ra.ordering_key = k.key
                       AND ra.due_at IS NULL AND ra.succeeded_at IS NULL AND ra.failed_at IS NULL)
                        AS waiting,
                    (SELECT ra.id FROM request_attempt ra
                     WHERE ra.subscription_id = k.subscription_id AND ra.ordering_key = k.key
                       AND ra.ordering_seq = k.head_seq AND ra.due_at IS NOT NULL LIMIT 1) AS head
             FROM ordering_key k JOIN subscription s ON s.id = k.subscription_id
             WHERE k.subscription_id = $1 AND s.application_id = $2
             ORDER BY k.held_since IS NULL, k.held_since, waiting DESC, k.key
             LIMIT $3",
        )
        .bind(subscription_id)
        .bind(application_id)
        .bind(i64::from(KEYS_SHOWN))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| KeyState {
                key: r.get("key"),
                held_by: r.get("held_by"),
                held_since: r.get("held_since"),
                waiting: r.get::<i64, _>("waiting").max(0) as u64,
                head: r.get("head"),
            })
            .collect())
    }
}
