//! Ingest on PostgreSQL, as a group commit: the events that arrive while earlier ones are being
//! written go together in one statement, so one transaction, one round trip and one WAL flush
//! carry many acknowledgements. Each caller still gets its own answer, and only after the
//! commit that holds its event.
//!
//! One statement per batch writes the events whose type exists (an unknown type wins over a
//! duplicate id, as on SQLite), skips ids already stored (`ON CONFLICT DO NOTHING`: the
//! caller is told `EventAlreadyIngested`) and adds one first attempt per matching subscription,
//! as `events::CREATE_ATTEMPTS` does for a single event. Should a batch fail as a whole (one
//! event the database refuses), its events are written one by one, so each gets its own
//! answer. With nothing else queued an event goes alone at once: batching adds no wait.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hook0_core::model::Event;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::{Ingested, StoreError, StoreResult};

/// Most events in one statement.
const MAX_BATCH: usize = 256;
/// Batches written at once: while they run, the next events queue up into the next batch.
const WRITERS: usize = 4;

type Reply = oneshot::Sender<StoreResult<Ingested>>;

struct Pending {
    event: Event,
    received_at: DateTime<Utc>,
    reply: Reply,
}

/// The ingest queue of one store; the batching task ends when the store is dropped.
pub(super) struct Ingester {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Ingester {
    pub fn start(pool: PgPool) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(batch(pool, pending));
        Self { queue }
    }

    /// Writes `event`, received at `received_at`; returns once it is committed.
    pub async fn ingest(&self, event: &Event, received_at: DateTime<Utc>) -> StoreResult<Ingested> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                event: event.clone(),
                received_at,
                reply,
            })
            .map_err(|_| StoreError::Unavailable("the ingest queue is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the ingest batch was dropped".into()))?
    }
}

/// Takes what is queued (up to [`MAX_BATCH`], never the same id twice) whenever a writer is
/// free, and writes it.
async fn batch(pool: PgPool, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    let mut deferred: Option<Pending> = None;
    loop {
        let Ok(permit) = writers.clone().acquire_owned().await else {
            return;
        };
        let first = match deferred.take() {
            Some(p) => p,
            None => match pending.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut ids = HashSet::from([first.event.id]);
        let mut events = vec![first];
        while events.len() < MAX_BATCH {
            match pending.try_recv() {
                // The same id twice in one statement would be told apart by neither.
                Ok(p) if !ids.insert(p.event.id) => {
                    deferred = Some(p);
                    break;
                }
                Ok(p) => events.push(p),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write(&pool, events).await;
            drop(permit);
        });
    }
}

/// Writes one batch and answers each caller.
async fn write(pool: &PgPool, events: Vec<Pending>) {
    if events.len() > 1 {
        match insert(pool, &events).await {
            Ok(results) => {
                for (p, result) in events.into_iter().zip(results) {
                    let _ = p.reply.send(result);
                }
                return;
            }
            Err(error) => {
                tracing::debug!(%error, events = events.len(), "ingest batch refused; writing its events one by one");
            }
        }
    }
    for p in events {
        let result = match insert(pool, std::slice::from_ref(&p)).await {
            Ok(mut results) => results
                .pop()
                .unwrap_or_else(|| Err(StoreError::Unavailable("no answer for the event".into()))),
            Err(error) => Err(error),
        };
        let _ = p.reply.send(result);
    }
}

/// The batch statement: `input` holds the events in order (`n`); matching subscriptions are
/// share-locked (enabled, not deleted, type listed, event labels ⊇ theirs) so that a concurrent
/// disable waits for this write or is seen by it. Attempt ids are time-ordered UUIDv7s.
const INSERT_BATCH: &str = "
    WITH input AS (
        SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::text[],
                             $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[],
                             $10::timestamptz[])
            WITH ORDINALITY AS i(id, application_id, event_type_name, payload, content_type, ip,
                                 metadata, labels, occurred_at, received_at, n)),
    typed AS (
        SELECT i.* FROM input i
        WHERE EXISTS (SELECT 1 FROM event_type t
                      WHERE t.application_id = i.application_id AND t.name = i.event_type_name)),
    source AS (
        INSERT INTO event (id, application_id, event_type_name, payload, payload_content_type, ip,
                           metadata, labels, occurred_at, received_at)
        SELECT id, application_id, event_type_name, payload, content_type, ip, metadata, labels,
               occurred_at, received_at
        FROM typed ORDER BY n
        ON CONFLICT (id) DO NOTHING
        RETURNING id, application_id, event_type_name, labels, received_at),
    matching AS (
        SELECT s.id, src.id AS event_id, src.application_id, src.received_at
        FROM source src
        JOIN subscription s ON s.application_id = src.application_id AND s.is_enabled
            AND s.deleted_at IS NULL
            AND s.event_types ? src.event_type_name AND src.labels @> s.labels
        ORDER BY s.created_at, s.id
        FOR SHARE OF s),
    attempts AS (
        INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                                     due_at, retry_count)
        SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                   PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                       FROM 3)
                   FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
               m.application_id, m.event_id, m.id, m.received_at, m.received_at, 0
        FROM matching m
        RETURNING event_id),
    counted AS (SELECT event_id, COUNT(*) AS attempts FROM attempts GROUP BY event_id)
    SELECT i.n, t.id IS NOT NULL AS typed, src.id IS NOT NULL AS stored,
           COALESCE(c.attempts, 0) AS attempts
    FROM input i
    LEFT JOIN typed t ON t.n = i.n
    LEFT JOIN source src ON src.id = i.id
    LEFT JOIN counted c ON c.event_id = i.id
    ORDER BY i.n";

/// One field of every event of the batch, as an array for `UNNEST`.
fn column<'a, T>(events: &'a [Pending], field: impl Fn(&'a Event) -> T) -> Vec<T> {
    events.iter().map(|p| field(&p.event)).collect()
}

/// Runs [`INSERT_BATCH`] (one transaction); one answer per event, in order.
async fn insert(pool: &PgPool, events: &[Pending]) -> StoreResult<Vec<StoreResult<Ingested>>> {
    let rows = sqlx::query(INSERT_BATCH)
        .bind(column(events, |e| e.id))
        .bind(column(events, |e| e.application_id))
        .bind(column(events, |e| e.event_type_name.as_str()))
        .bind(column(events, |e| e.payload.as_slice()))
        .bind(column(events, |e| e.payload_content_type.as_str()))
        .bind(column(events, |e| e.ip.as_deref()))
        .bind(column(events, |e| Json(&e.metadata)))
        .bind(column(events, |e| Json(&e.labels)))
        .bind(column(events, |e| e.occurred_at))
        .bind(events.iter().map(|p| p.received_at).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(events
        .iter()
        .zip(&rows)
        .map(|(p, row)| {
            if !row.get::<bool, _>("typed") {
                Err(StoreError::EventTypeDoesNotExist(
                    p.event.event_type_name.clone(),
                ))
            } else if !row.get::<bool, _>("stored") {
                Err(StoreError::EventAlreadyIngested)
            } else {
                Ok(Ingested {
                    received_at: p.received_at,
                    request_attempts: row.get::<i64, _>("attempts") as usize,
                })
            }
        })
        .collect())
}
