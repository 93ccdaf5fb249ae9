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
//!
//! The same statement adds the batch's events to their application's day in `events_per_day`,
//! each writer to its own slot row, so concurrent batches of one application never wait on one
//! another's row lock. A batch holding events under a daily quota instead locks the day's rows
//! first (slot 0 only is written then), reads the exact count, and writes only the events that
//! fit: concurrent ingests can never overshoot the limit.
//!
//! When this process's worker is idle and offers the hand-off (`hand_off`), the batch is written
//! in a transaction that also leases the worker the new attempts a claim would take now.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::clock::Clock;
use hook0_core::delivery::DeliveryJob;
use hook0_core::model::Event;
use hook0_core::quota::Quota;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::hand_off::{self, HandOff, Lease, NewAttempt, Offer};
use super::{ordering, subscriptions};
use crate::{Ingested, StoreError, StoreResult};

/// Most events in one statement.
const MAX_BATCH: usize = 256;
/// Batches written at once: while they run, the next events queue up into the next batch.
/// Fewer writers make bigger batches, and concurrent batches share-lock the same parent rows
/// (the subscriptions they match, the application their events' foreign keys check): with
/// four, 20,000 events at concurrency 64 were ingested 8 % and delivered 14 % slower than with
/// two on the 2-core benchmark machine; one was faster still (2–5 %), but would leave every
/// ingest behind a batch waiting on a lock (a subscription being changed, a daily quota).
const WRITERS: usize = 2;

type Reply = oneshot::Sender<StoreResult<Written>>;

/// What an ingest wrote, as its caller learns it.
pub(super) struct Written {
    pub ingested: Ingested,
    /// Some of its attempts are due and were not handed off: workers are to be woken.
    pub left_due: bool,
}

/// An event as the batch statement stored it.
struct Stored {
    ingested: Ingested,
    /// Some of its new attempts are due now and were not written leased (the others wait in an
    /// ordering key's line).
    left_due: bool,
    /// Its new attempts written leased to the worker that offered the hand-off.
    leased: Vec<NewAttempt>,
}

/// What the batch writers share.
struct Writers {
    pool: PgPool,
    clock: Clock,
    hand_off: Arc<HandOff>,
}

struct Pending {
    event: Event,
    received_at: DateTime<Utc>,
    /// The application's daily quota, when one is enforced.
    events_per_day: Option<u32>,
    reply: Reply,
}

/// The ingest queue of one store; the batching task ends when the store is dropped.
pub(super) struct Ingester {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Ingester {
    pub fn start(pool: PgPool, clock: Clock, hand_off: Arc<HandOff>) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        let writers = Arc::new(Writers {
            pool,
            clock,
            hand_off,
        });
        tokio::spawn(batch(writers, pending));
        Self { queue }
    }

    /// Writes `event` (received at `event.received_at`) unless `events_per_day` is reached;
    /// returns once it is committed.
    pub async fn ingest(&self, event: &Event, events_per_day: Option<u32>) -> StoreResult<Written> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                event: event.clone(),
                received_at: event.received_at,
                events_per_day,
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
async fn batch(shared: Arc<Writers>, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    let mut deferred: Option<Pending> = None;
    let mut batches: usize = 0;
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
        let shared = shared.clone();
        // At most WRITERS batches run at once, so round-robin slots rarely share a row.
        let slot = (batches % WRITERS) as i16;
        batches = batches.wrapping_add(1);
        tokio::spawn(async move {
            write(&shared, events, slot).await;
            drop(permit);
        });
    }
}

/// Writes one batch (handing off to the idle worker when it offers) and answers each caller.
async fn write(shared: &Writers, events: Vec<Pending>, slot: i16) {
    let offer = shared.hand_off.take();
    if events.len() > 1 || offer.is_some() {
        match insert(shared, &events, slot, offer.as_ref()).await {
            Ok((results, jobs)) => {
                // The attempts the worker got; `None`: no hand-off (no offer, or the worker
                // stopped listening and the leases are being given back).
                let handed = offer.and_then(|offer| offer.answer(jobs));
                for (p, result) in events.into_iter().zip(results) {
                    let _ = p
                        .reply
                        .send(result.map(|stored| written(stored, handed.as_ref())));
                }
                return;
            }
            Err(error) => {
                tracing::debug!(%error, events = events.len(), "ingest batch refused; writing its events one by one");
            }
        }
    }
    // Dropped, the offer stands again (or its worker, done waiting, gets an empty answer).
    drop(offer);
    for p in events {
        let result = match insert(shared, std::slice::from_ref(&p), slot, None).await {
            Ok((mut results, _)) => results
                .pop()
                .unwrap_or_else(|| Err(StoreError::Unavailable("no answer for the event".into()))),
            Err(error) => Err(error),
        };
        let _ = p.reply.send(result.map(|stored| written(stored, None)));
    }
}

/// The caller's answer: workers are to be woken for its attempts that are due, and for those
/// written leased that the worker did not get (`handed`: the attempts it got, of an offer
/// answered; they are given back, due at once).
fn written(stored: Stored, handed: Option<&HashSet<uuid::Uuid>>) -> Written {
    let given_back = stored
        .leased
        .iter()
        .any(|a| handed.is_none_or(|handed| !handed.contains(&a.id)));
    Written {
        ingested: stored.ingested,
        left_due: stored.left_due || given_back,
    }
}

/// The batch statement: `input` holds the events in order (`n`); matching subscriptions are
/// share-locked (enabled, not deleted, type listed, event labels ⊇ theirs) so that a concurrent
/// disable waits for this write or is seen by it. First attempts are placed by
/// [`ordering::place_attempts`] (in their key's line for a subscription that orders deliveries);
/// those of the `(n, subscription)` pairs `$12`, `$13` that come out due are written leased
/// until `$14`, at `$15`, to worker `$16` (the hand-off).
static INSERT_BATCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
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
        ON CONFLICT (application_id, id) DO NOTHING
        RETURNING id, application_id, event_type_name, labels, received_at),
    leases AS (
        SELECT * FROM UNNEST($12::int8[], $13::uuid[]) AS l(n, subscription_id)),
    matching AS (
        SELECT s.id, src.id AS event_id, src.application_id, src.received_at AS created_at,
               src.labels ->> s.ordering_label AS key, t.n,
               CASE WHEN l.n IS NOT NULL THEN $14::timestamptz END AS lease_until,
               CASE WHEN l.n IS NOT NULL THEN $15::timestamptz END AS leased_at,
               CASE WHEN l.n IS NOT NULL THEN $16::text END AS worker
        FROM source src
        JOIN typed t ON t.application_id = src.application_id AND t.id = src.id
        JOIN subscription s ON {}
        LEFT JOIN leases l ON l.n = t.n AND l.subscription_id = s.id
        ORDER BY s.created_at, s.id
        FOR SHARE OF s),
    {},
    days AS (
        INSERT INTO events_per_day (application_id, day, slot, amount)
        SELECT application_id, (received_at AT TIME ZONE 'UTC')::date, $11, COUNT(*)
        FROM source GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (application_id, day, slot)
            DO UPDATE SET amount = events_per_day.amount + EXCLUDED.amount),
    counted AS (
        SELECT event_id, COUNT(*) AS attempts,
               BOOL_OR(due_at IS NOT NULL AND picked_at IS NULL) AS left_due,
               ARRAY_AGG(id ORDER BY id) FILTER (WHERE picked_at IS NOT NULL) AS leased_ids,
               ARRAY_AGG(subscription_id ORDER BY id) FILTER (WHERE picked_at IS NOT NULL)
                   AS leased_subscriptions
        FROM attempts GROUP BY event_id)
    SELECT i.n, t.id IS NOT NULL AS typed, src.id IS NOT NULL AS stored,
           COALESCE(c.attempts, 0) AS attempts, COALESCE(c.left_due, false) AS left_due,
           c.leased_ids, c.leased_subscriptions
    FROM input i
    LEFT JOIN typed t ON t.n = i.n
    LEFT JOIN source src ON src.id = i.id
    LEFT JOIN counted c ON c.event_id = i.id
    ORDER BY i.n",
        subscriptions::delivered_to("src.application_id", "src"),
        ordering::place_attempts()
    )
});

/// One field of every event of the batch, as an array for `UNNEST`.
fn column<'a, T>(events: &[&'a Pending], field: impl Fn(&'a Event) -> T) -> Vec<T> {
    events.iter().map(|p| field(&p.event)).collect()
}

/// Writes a batch (one transaction), and leases the offer's worker what it may take of the new
/// attempts in the same transaction; one answer per event, in order, and the jobs leased.
async fn insert(
    shared: &Writers,
    events: &[Pending],
    slot: i16,
    offer: Option<&Offer>,
) -> StoreResult<(Vec<StoreResult<Stored>>, Vec<DeliveryJob>)> {
    let limited = events.iter().any(|p| p.events_per_day.is_some());
    if !limited && offer.is_none() {
        let mut conn = shared.pool.acquire().await?;
        return Ok((insert_batch(&mut conn, events, slot).await?, Vec::new()));
    }
    // Handing off runs the claim's statements: in a transaction of the delivery path.
    let mut tx = match offer {
        Some(_) => super::begin_delivery(&shared.pool, true).await?,
        None => shared.pool.begin().await?,
    };
    let fits = if limited {
        within_quota(&mut tx, events).await?
    } else {
        vec![true; events.len()]
    };
    let kept: Vec<&Pending> = events
        .iter()
        .zip(&fits)
        .filter(|(_, fits)| **fits)
        .map(|(p, _)| p)
        .collect();
    // Under a quota the day's slot 0 is locked already: write there.
    let slot = if limited { 0 } else { slot };
    // The hand-off is decided first, so its attempts are written leased: no second write.
    let lease = match offer {
        Some(offer) => {
            let events: Vec<&Event> = kept.iter().map(|p| &p.event).collect();
            hand_off::plan_lease(&mut tx, offer, &events, shared.clock.now()).await?
        }
        None => None,
    };
    let stored = insert_batch_refs(&mut tx, &kept, slot, lease.as_ref()).await?;
    let jobs = match &lease {
        Some(lease) => {
            let written = kept.iter().zip(&stored).filter_map(|(p, stored)| {
                let stored = stored.as_ref().ok()?;
                Some((&p.event, stored.leased.as_slice()))
            });
            hand_off::jobs(&mut tx, lease, written).await?
        }
        None => Vec::new(),
    };
    tx.commit().await?;
    let mut written = stored.into_iter();
    let answers = fits
        .iter()
        .map(|fits| {
            if *fits {
                written.next().unwrap_or_else(|| {
                    Err(StoreError::Unavailable("no answer for the event".into()))
                })
            } else {
                Err(StoreError::QuotaReached(Quota::EventsPerDay))
            }
        })
        .collect();
    Ok((answers, jobs))
}

/// Locks the daily counts of the batch's limited applications (in a fixed order, so writers
/// never deadlock) and says, event by event in order, whether it still fits its quota.
async fn within_quota(tx: &mut PgConnection, events: &[Pending]) -> StoreResult<Vec<bool>> {
    let limited: Vec<(uuid::Uuid, NaiveDate)> = events
        .iter()
        .filter(|p| p.events_per_day.is_some())
        .map(|p| (p.event.application_id, p.received_at.date_naive()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let apps: Vec<uuid::Uuid> = limited.iter().map(|(a, _)| *a).collect();
    let days: Vec<NaiveDate> = limited.iter().map(|(_, d)| *d).collect();
    // Slot 0 must exist to be locked: a first event of the day creates it.
    sqlx::query(
        "INSERT INTO events_per_day (application_id, day, slot, amount)
         SELECT a, d, 0, 0 FROM UNNEST($1::uuid[], $2::date[]) AS t(a, d) ORDER BY a, d
         ON CONFLICT DO NOTHING",
    )
    .bind(&apps)
    .bind(&days)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT application_id, day, amount FROM events_per_day
         WHERE (application_id, day) IN (SELECT * FROM UNNEST($1::uuid[], $2::date[]))
         ORDER BY application_id, day, slot
         FOR UPDATE",
    )
    .bind(&apps)
    .bind(&days)
    .fetch_all(&mut *tx)
    .await?;
    let mut used: HashMap<(uuid::Uuid, NaiveDate), i64> = HashMap::new();
    for row in rows {
        *used.entry((row.get(0), row.get(1))).or_default() += row.get::<i64, _>(2);
    }
    Ok(events
        .iter()
        .map(|p| match p.events_per_day {
            None => true,
            Some(limit) => {
                let count = used
                    .entry((p.event.application_id, p.received_at.date_naive()))
                    .or_default();
                let fits = *count < i64::from(limit);
                *count += i64::from(fits);
                fits
            }
        })
        .collect())
}

/// Runs [`INSERT_BATCH`]; one answer per event, in order.
async fn insert_batch(
    conn: &mut PgConnection,
    events: &[Pending],
    slot: i16,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    let refs: Vec<&Pending> = events.iter().collect();
    insert_batch_refs(conn, &refs, slot, None).await
}

/// Runs [`INSERT_BATCH`], writing the attempts of `lease` leased; one answer per event, in order.
async fn insert_batch_refs(
    conn: &mut PgConnection,
    events: &[&Pending],
    slot: i16,
    lease: Option<&Lease>,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let pairs = lease.map_or(&[][..], |l| l.pairs.as_slice());
    let rows = sqlx::query(&INSERT_BATCH)
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
        .bind(slot)
        .bind(pairs.iter().map(|(n, _)| *n).collect::<Vec<i64>>())
        .bind(pairs.iter().map(|(_, s)| *s).collect::<Vec<uuid::Uuid>>())
        .bind(lease.map(|l| l.until))
        .bind(lease.map(|l| l.leased_at))
        .bind(lease.map(|l| l.worker.as_str()))
        .fetch_all(&mut *conn)
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
                let ids: Vec<uuid::Uuid> =
                    row.get::<Option<_>, _>("leased_ids").unwrap_or_default();
                let subscriptions: Vec<uuid::Uuid> = row
                    .get::<Option<_>, _>("leased_subscriptions")
                    .unwrap_or_default();
                Ok(Stored {
                    ingested: Ingested {
                        received_at: p.received_at,
                        request_attempts: row.get::<i64, _>("attempts") as usize,
                    },
                    left_due: row.get("left_due"),
                    leased: ids
                        .into_iter()
                        .zip(subscriptions)
                        .map(|(id, subscription_id)| NewAttempt {
                            id,
                            subscription_id,
                        })
                        .collect(),
                })
            }
        })
        .collect())
}
