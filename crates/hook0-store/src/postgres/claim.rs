//! The fair claim on PostgreSQL: reads what [`crate::fair_claim::plan`] needs (the
//! subscriptions at the head of the queue, leases in flight per subscription, circuits, then per
//! subscription only the due attempts it may take, locked with `FOR UPDATE SKIP LOCKED`) and
//! writes its plan back, all in one transaction. Round trips are what a claim costs on a busy
//! machine, so it takes six: `BEGIN` (with its settings), [`survey`] (leases, head, claim
//! locks), [`read_locked`] (circuits and fresh leases of the locked subscriptions), the due
//! attempts per subscription, and [`lease_jobs`] (lease and load, and when the next attempt is
//! due, for the worker going idle); then `COMMIT`. Holds,
//! parking and probes add statements only when they happen.
//!
//! The claim never waits for a lock: due attempts, the per-subscription claim advisory lock and
//! `subscription_health` rows another transaction holds are skipped, and so are the due
//! attempts of a subscription whose health row is locked (an outcome is moving its circuit;
//! they are claimed by the next call). Outcome writers take subscription, attempt and health
//! locks in that order and may wait, so with a claim that waited on health rows while holding
//! attempts the two could deadlock.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use hook0_core::delivery::{AttemptRef, ClaimRequest, DeliveryJob};
use hook0_core::model::HttpTarget;
use sqlx::Row;
use uuid::Uuid;

use super::circuits::{self, circuit_of, HEALTH_COLUMNS};
use super::convert::*;
use super::signing::job_secrets;
use super::PostgresStore;
use crate::fair_claim::{self, DueAttempt, Leases, Read, SCAN_BUDGET};
use crate::{Claimed, NextDue, StoreResult};

/// Due attempts read at the head of the queue to learn which subscriptions have work due.
const HEAD_WINDOW: u32 = 64;

/// The advisory lock key of subscription `s.id` for claims: 64 bits of its md5, so that it
/// does not collide with the migration lock or other users of advisory locks in practice.
pub(super) const CLAIM_LOCK_KEY: &str =
    "('x' || left(md5('hook0_claim' || s.id::text), 16))::bit(64)::bigint";

impl PostgresStore {
    pub(super) async fn lease_due_attempts(
        &self,
        worker: &str,
        request: &ClaimRequest,
    ) -> StoreResult<Claimed> {
        let now = self.clock.now();
        let lease_end = fair_claim::lease_until(now, request.lease);
        // Its writes (leases, holds, a probe's half-open circuit) need not wait for the WAL
        // flush; acknowledged events and recorded outcomes keep synchronous commits.
        let mut tx = self.begin_delivery(false).await?;
        let survey = survey(&mut tx, request, now).await?;
        // The stalled ones get their backlog parked below.
        let (_, mut stalled) = fair_claim::at_cap(request, now, &survey.leases);
        let head = survey.head;
        let mut subscriptions = survey.locked;
        subscriptions.sort();
        if subscriptions.is_empty() && stalled.is_empty() {
            return Ok(Claimed {
                jobs: Vec::new(),
                next_due: NextDue::Unknown,
            });
        }
        let locked = read_locked(&mut tx, &subscriptions, now).await?;
        let (mut circuits, busy, in_flight) = (locked.circuits, locked.busy, locked.leases);

        // Per subscription, in head order, how many of its oldest due attempts to read.
        let (mut reads, mut rooms) = (Vec::new(), Vec::new());
        for subscription_id in &head {
            if subscriptions.binary_search(subscription_id).is_err()
                || busy.contains(subscription_id)
            {
                continue;
            }
            let circuit = circuits.get(subscription_id).cloned().unwrap_or_default();
            let leases = in_flight.get(subscription_id);
            let room = match fair_claim::read(
                request,
                now,
                lease_end,
                subscription_id,
                leases,
                &circuit,
            ) {
                // Read (locked, skipping locked ones) so the plan holds them by id: an
                // UPDATE of the whole backlog could wait on an outcome writer's row locks.
                Read::Hold { .. } => SCAN_BUDGET,
                Read::Take { n, stalled: slow } => {
                    if slow {
                        stalled.push(*subscription_id);
                    }
                    n
                }
            };
            if room > 0 {
                reads.push(*subscription_id);
                rooms.push(i64::from(room));
            }
        }
        let due = self.read_due(&mut tx, request, now, &reads, &rooms).await?;

        let plan = fair_claim::plan(request, now, lease_end, &due, &in_flight, &circuits);

        // Only a claim that got fewer than asked is followed by the worker's idle step.
        let partial = plan.claimed.len() < request.limit as usize;
        let (jobs, mut next_due) =
            lease_jobs(&mut tx, &plan.claimed, worker, now, lease_end, partial).await?;
        // Holds, parking and probes below move other attempts' due times: the lease statement's
        // reading is stale then.
        if !plan.probes.is_empty()
            || !plan.held.is_empty()
            || !plan.parked.is_empty()
            || !stalled.is_empty()
        {
            next_due = NextDue::Unknown;
        }
        for subscription_id in &plan.probes {
            let mut circuit = circuits.remove(subscription_id).unwrap_or_default();
            circuit.start_probe(now);
            circuits::save_circuit(&mut tx, *subscription_id, &circuit).await?;
            // The others wait for the probe's outcome (leased, the probe itself is not held).
            circuits::hold_pending(&mut tx, *subscription_id, lease_end, now).await?;
        }
        let mut held_ids: Vec<Uuid> = plan.held.iter().map(|(id, _)| *id).collect();
        let mut held_until: Vec<_> = plan.held.iter().map(|(_, until)| *until).collect();
        let park_end = fair_claim::park_until(now, request.lease);
        held_ids.extend(plan.parked.iter().copied());
        held_until.extend(plan.parked.iter().map(|_| park_end));
        if !held_ids.is_empty() {
            sqlx::query(
                "UPDATE request_attempt ra SET due_at = h.until, picked_at = NULL
                 FROM UNNEST($1::uuid[], $2::timestamptz[]) AS h(id, until)
                 WHERE ra.id = h.id",
            )
            .bind(&held_ids)
            .bind(&held_until)
            .execute(&mut *tx)
            .await?;
        }
        // What was read beyond a cap or a class limit simply stays due; a stalled
        // subscription's backlog (what was not just leased) leaves the head.
        for subscription_id in stalled {
            sqlx::query(
                "UPDATE request_attempt SET due_at = $3, picked_at = NULL WHERE id IN (
                     SELECT id FROM request_attempt
                     WHERE subscription_id = $1 AND due_at IS NOT NULL AND due_at <= $2
                     ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)",
            )
            .bind(subscription_id)
            .bind(now)
            .bind(park_end)
            .bind(i64::from(SCAN_BUDGET))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Claimed { jobs, next_due })
    }

    /// Each subscription's oldest due attempts, up to its room, locked (skipping locked ones);
    /// where those include retries while first attempts (high priority) may wait behind them,
    /// the oldest of each priority class instead, looking at most [`SCAN_BUDGET`] deep.
    async fn read_due(
        &self,
        tx: &mut sqlx::PgConnection,
        request: &ClaimRequest,
        now: chrono::DateTime<Utc>,
        subscriptions: &[Uuid],
        rooms: &[i64],
    ) -> StoreResult<Vec<DueAttempt<Uuid>>> {
        if subscriptions.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT ra.id, ra.subscription_id, ra.retry_count, s.room
             FROM UNNEST($1::uuid[], $2::int8[]) WITH ORDINALITY AS s(id, room, n)
             CROSS JOIN LATERAL (
                 SELECT id, subscription_id, retry_count, due_at FROM request_attempt r
                 WHERE r.subscription_id = s.id AND r.due_at IS NOT NULL AND r.due_at <= $3
                 ORDER BY r.due_at LIMIT s.room FOR UPDATE SKIP LOCKED) ra
             ORDER BY s.n, ra.due_at",
        )
        .bind(subscriptions)
        .bind(rooms)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        let mut counts: HashMap<Uuid, (i64, i64, bool)> = HashMap::new();
        for r in &rows {
            let attempt = DueAttempt {
                key: r.get("id"),
                subscription_id: r.get("subscription_id"),
                retry_count: r.get("retry_count"),
            };
            let entry = counts
                .entry(attempt.subscription_id)
                .or_insert((0, r.get("room"), false));
            entry.0 += 1;
            entry.2 |= !request.is_high_priority(attempt.retry_count);
            due.push(attempt);
        }
        // Full reads holding a retry: the first attempts behind it come first.
        let mixed: Vec<(Uuid, i64)> = counts
            .into_iter()
            .filter(|(_, (read, room, low))| *low && read == room)
            .map(|(id, (_, room, _))| (id, room))
            .collect();
        for (subscription_id, room) in mixed {
            due.retain(|d| d.subscription_id != subscription_id);
            for (high, max) in [
                (true, request.max_high_priority),
                (false, request.max_low_priority),
            ] {
                let n = i64::from(max).min(room);
                if n == 0 {
                    continue;
                }
                let rows = sqlx::query(
                    "SELECT id, subscription_id, retry_count FROM request_attempt WHERE id IN (
                         SELECT id FROM (
                             SELECT id, retry_count, due_at FROM request_attempt
                             WHERE subscription_id = $1 AND due_at IS NOT NULL AND due_at <= $2
                             ORDER BY due_at LIMIT $5) deep
                         WHERE (retry_count < $3) = $4 ORDER BY due_at LIMIT $6)
                     ORDER BY due_at FOR UPDATE SKIP LOCKED",
                )
                .bind(subscription_id)
                .bind(now)
                .bind(request.hp_retry_cutoff)
                .bind(high)
                .bind(i64::from(SCAN_BUDGET))
                .bind(n)
                .fetch_all(&mut *tx)
                .await?;
                due.extend(rows.iter().map(|r| DueAttempt {
                    key: r.get("id"),
                    subscription_id,
                    retry_count: r.get("retry_count"),
                }));
            }
        }
        Ok(due)
    }
}

/// Leases the attempts `ids` until `lease_end` and returns, in the given order, everything the
/// worker needs to send each, in one statement.
pub(super) async fn lease_jobs(
    c: &mut sqlx::PgConnection,
    ids: &[Uuid],
    worker: &str,
    now: chrono::DateTime<Utc>,
    lease_end: chrono::DateTime<Utc>,
    tell_next_due: bool,
) -> StoreResult<(Vec<DeliveryJob>, NextDue)> {
    if ids.is_empty() {
        return Ok((Vec::new(), NextDue::Unknown));
    }
    let rows = sqlx::query(
        "WITH leased AS (
             UPDATE request_attempt SET picked_at = $2, due_at = $3, worker_name = $4
             WHERE id = ANY($1)
             RETURNING id, application_id, event_id, subscription_id, retry_count, created_at,
                       delay_until)
         SELECT ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count, ra.created_at,
                ra.delay_until, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
                s.target_method, s.target_url, s.target_headers, s.secret, s.standard_webhooks,
                -- What next_due_at would answer after this claim, for the worker's idle step
                -- (asked with $5). The statement's snapshot predates the leases, hence the
                -- leased ids left out (their new due time is $3).
                CASE WHEN $5 THEN LEAST($3, (SELECT MIN(due_at) FROM request_attempt
                                             WHERE due_at IS NOT NULL AND NOT (id = ANY($1))))
                END AS next_due
         FROM leased ra
         JOIN event e ON e.application_id = ra.application_id AND e.id = ra.event_id
         JOIN subscription s ON s.id = ra.subscription_id",
    )
    .bind(ids)
    .bind(now)
    .bind(lease_end)
    .bind(worker)
    .bind(tell_next_due)
    .fetch_all(&mut *c)
    .await?;
    let signed = rows
        .iter()
        .filter(|r| r.get::<bool, _>("standard_webhooks"))
        .map(|r| r.get("subscription_id"));
    let secrets = job_secrets(c, signed, now).await?;
    let mut jobs: HashMap<Uuid, DeliveryJob> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let created_at: chrono::DateTime<Utc> = row.get("created_at");
        let delay_until: Option<chrono::DateTime<Utc>> = row.get("delay_until");
        let subscription_id: Uuid = row.get("subscription_id");
        let standard_webhooks_secrets = secrets.get(&subscription_id).cloned().unwrap_or_default();
        let job = DeliveryJob {
            attempt: AttemptRef {
                attempt_id: row.get("id"),
                application_id: row.get("application_id"),
                event_id: row.get("event_id"),
                subscription_id,
                retry_count: row.get("retry_count"),
            },
            due_at: delay_until.map_or(created_at, |d| d.max(created_at)),
            event_received_at: row.get("received_at"),
            event_type_name: row.get("event_type_name"),
            payload: row.get("payload"),
            payload_content_type: content_type(row)?,
            target: HttpTarget {
                method: row.get("target_method"),
                url: row.get("target_url"),
                headers: json(row, "target_headers")?,
            },
            secret: row.get("secret"),
            standard_webhooks_secrets,
        };
        jobs.insert(job.attempt.attempt_id, job);
    }
    let next_due = match rows.first().and_then(|row| row.get("next_due")) {
        Some(at) => NextDue::At(at),
        None => NextDue::Unknown,
    };
    Ok((
        ids.iter().filter_map(|id| jobs.remove(id)).collect(),
        next_due,
    ))
}

/// The survey's statement: `$1` now, `$2` the head window, `$3` the scan budget, `$4` the fast
/// subscriptions, `$5` and `$6` their caps. Public for the test that checks its plan never
/// scans finished attempts.
#[doc(hidden)]
pub fn survey_query() -> String {
    format!(
        "WITH leased AS (
             SELECT subscription_id, COUNT(*) AS n, MIN(due_at) AS oldest_end FROM request_attempt
             WHERE picked_at IS NOT NULL AND due_at IS NOT NULL AND due_at > $1
             GROUP BY subscription_id),
         at_cap AS (
             SELECT subscription_id FROM leased
             WHERE n >= CASE WHEN subscription_id = ANY($4::uuid[]) THEN $6 ELSE $5 END),
         head AS MATERIALIZED (
             SELECT subscription_id AS id, MIN(due_at) AS first_due FROM (
                 SELECT subscription_id, due_at FROM (
                     SELECT subscription_id, due_at FROM request_attempt
                     WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $3) due
                 WHERE subscription_id NOT IN (SELECT subscription_id FROM at_cap)
                 ORDER BY due_at LIMIT $2) h
             GROUP BY subscription_id)
         SELECT subscription_id, n, oldest_end, NULL::timestamptz AS first_due, NULL::bool AS locked
         FROM leased
         UNION ALL
         SELECT id, NULL, NULL, first_due, pg_try_advisory_xact_lock({CLAIM_LOCK_KEY})
         FROM (SELECT id, first_due FROM head ORDER BY first_due, id) s"
    )
}

/// What a claim reads first, in one statement.
struct Survey {
    /// Attempts under a live lease, per subscription (all of them).
    leases: HashMap<Uuid, Leases>,
    /// The subscriptions at the head of the queue, in order of their oldest due attempt.
    head: Vec<Uuid>,
    /// Those of `head` whose claim lock this transaction took: one claim at a time per
    /// subscription, so that the in-flight count [`read_locked`] reads is not stale when the
    /// cap is applied; a subscription another claim holds is skipped.
    locked: Vec<Uuid>,
}

/// Reads the leases in flight and the subscriptions at the head of the queue (the first
/// [`HEAD_WINDOW`] due attempts, passing over, within the first [`SCAN_BUDGET`], those of
/// subscriptions at their cap, which could take nothing: their attempts must not hide the
/// others' while they are not yet stalled), and takes the claim lock of each head subscription
/// that is free. "At their cap" is [`fair_claim::at_cap`]'s rule, with the caps of
/// [`ClaimRequest::cap_of`].
async fn survey(
    c: &mut sqlx::PgConnection,
    request: &ClaimRequest,
    now: chrono::DateTime<Utc>,
) -> StoreResult<Survey> {
    let rows = sqlx::query(&survey_query())
        .bind(now)
        .bind(i64::from(HEAD_WINDOW))
        .bind(i64::from(SCAN_BUDGET))
        .bind(&request.fast_subscriptions)
        .bind(i64::from(request.max_in_flight_per_subscription))
        .bind(i64::from(
            request
                .max_in_flight_per_fast_subscription
                .max(request.max_in_flight_per_subscription),
        ))
        .fetch_all(&mut *c)
        .await?;
    let mut survey = Survey {
        leases: HashMap::new(),
        head: Vec::new(),
        locked: Vec::new(),
    };
    let mut head = Vec::new();
    for row in &rows {
        let id: Uuid = row.get("subscription_id");
        match row.get::<Option<i64>, _>("n") {
            Some(n) => {
                survey.leases.insert(
                    id,
                    Leases {
                        count: u32::try_from(n).unwrap_or(u32::MAX),
                        oldest_end: row.get("oldest_end"),
                    },
                );
            }
            None => head.push((
                row.get::<chrono::DateTime<Utc>, _>("first_due"),
                id,
                row.get::<Option<bool>, _>("locked") == Some(true),
            )),
        }
    }
    head.sort_by_key(|(first_due, id, _)| (*first_due, *id));
    for (_, id, locked) in head {
        survey.head.push(id);
        if locked {
            survey.locked.push(id);
        }
    }
    Ok(survey)
}

/// What a claim reads of the subscriptions it locked, in one statement (whose snapshot follows
/// the locks, so another claim of them has committed or not started).
pub(super) struct Locked {
    /// Circuits of those with a health row this claim could lock.
    pub circuits: HashMap<Uuid, hook0_core::circuit::Circuit>,
    /// Those whose health row another transaction holds: an outcome is moving their circuit;
    /// the next claim takes them.
    pub busy: HashSet<Uuid>,
    /// Attempts under a live lease, per subscription.
    pub leases: HashMap<Uuid, Leases>,
}

pub(super) async fn read_locked(
    c: &mut sqlx::PgConnection,
    subscriptions: &[Uuid],
    now: chrono::DateTime<Utc>,
) -> StoreResult<Locked> {
    let rows = sqlx::query(&format!(
        "WITH health AS MATERIALIZED (
             SELECT {HEALTH_COLUMNS} FROM subscription_health WHERE subscription_id = ANY($1)
             ORDER BY subscription_id FOR UPDATE SKIP LOCKED)
         SELECT s.id, EXISTS (SELECT 1 FROM subscription_health x WHERE x.subscription_id = s.id)
                    AS has_health,
                h.subscription_id, h.circuit_state, h.circuit_since, h.consecutive_failures,
                h.open_until, h.trips, h.failing_since, l.n, l.oldest_end
         FROM UNNEST($1::uuid[]) AS s(id)
         LEFT JOIN health h ON h.subscription_id = s.id
         CROSS JOIN LATERAL (
             SELECT COUNT(*) AS n, MIN(due_at) AS oldest_end FROM request_attempt r
             WHERE r.subscription_id = s.id AND r.picked_at IS NOT NULL AND r.due_at IS NOT NULL
               AND r.due_at > $2) l"
    ))
    .bind(subscriptions)
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    let mut locked = Locked {
        circuits: HashMap::new(),
        busy: HashSet::new(),
        leases: HashMap::new(),
    };
    for row in &rows {
        let id: Uuid = row.get("id");
        if row.get::<Option<Uuid>, _>("subscription_id").is_some() {
            locked.circuits.insert(id, circuit_of(row)?);
        } else if row.get::<bool, _>("has_health") {
            locked.busy.insert(id);
        }
        let n: i64 = row.get("n");
        if n > 0 {
            locked.leases.insert(
                id,
                Leases {
                    count: u32::try_from(n).unwrap_or(u32::MAX),
                    oldest_end: row.get("oldest_end"),
                },
            );
        }
    }
    Ok(locked)
}
