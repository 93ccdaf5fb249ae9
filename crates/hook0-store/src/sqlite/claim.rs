//! The fair claim on SQLite: reads what [`crate::fair_claim::plan`] needs (the subscriptions at
//! the head of the queue, leases in flight per subscription, circuits, then per subscription only
//! the due attempts it may take) and writes its plan back, all in one write closure, so counts
//! and leases cannot race. Held and parked attempts keep `delay_until` and `retry_count`: only
//! `due_at` moves (see `health`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use hook0_core::delivery::{AttemptRef, ClaimRequest, DeliveryJob};
use hook0_core::model::{HttpTarget, PayloadContentType};
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::convert::*;
use super::{circuits, signing};
use crate::fair_claim::{self, DueAttempt, Leases, Read, SCAN_BUDGET};
use crate::{StoreError, StoreResult};

/// Attempts under a live lease, per subscription (a leased attempt's `due_at` is its lease end).
fn in_flight(c: &Connection, now: i64) -> StoreResult<HashMap<Uuid, Leases>> {
    let leases = c
        .prepare_cached(
            "SELECT subscription_id, COUNT(*), MIN(due_at) FROM request_attempt INDEXED BY request_attempt_leased
             WHERE picked_at IS NOT NULL AND due_at IS NOT NULL AND due_at > ?
             GROUP BY subscription_id",
        )?
        .query_map([now], |r| {
            Ok((
                r.get(0)?,
                Leases {
                    count: r.get(1)?,
                    oldest_end: time(r.get(2)?),
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(leases)
}

/// Due attempts the claim reads at the head of the queue to learn which subscriptions have work
/// due, in due order (so subscriptions are served first come, first served). Small: this read
/// runs on every claim, and a subscription found here is then read by its own index.
const HEAD_WINDOW: u32 = 64;

/// The subscriptions with attempts among the first [`HEAD_WINDOW`] due, in order of their
/// oldest, from the covering index, passing over those in `full` (at their cap: they could take
/// nothing) within the first [`SCAN_BUDGET`] due, so that a blocked subscription's attempts at
/// the head do not hide the others' while it is not yet stalled.
fn head_subscriptions(c: &Connection, now: i64, full: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    let full: String = full
        .iter()
        .map(|id| format!("\"{}\",", id.simple()))
        .collect();
    let full = format!("[{}]", full.trim_end_matches(','));
    let mut stmt = c.prepare_cached(
        "SELECT subscription_id FROM (
             SELECT subscription_id FROM request_attempt INDEXED BY request_attempt_due
             WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2)
         WHERE subscription_id NOT IN (SELECT unhex(value) FROM json_each(?3))
         LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![now, SCAN_BUDGET, full, HEAD_WINDOW])?;
    let mut subscriptions: Vec<Uuid> = Vec::new();
    while let Some(row) = rows.next()? {
        // Compared as bytes: most rows repeat a subscription already seen.
        let id = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        if !subscriptions.iter().any(|s| s.as_bytes() == id) {
            subscriptions
                .push(Uuid::from_slice(id).map_err(|e| StoreError::Database(e.to_string()))?);
        }
    }
    Ok(subscriptions)
}

/// Up to `room` of the subscription's due attempts, addressed by rowid, for the claim to choose
/// from: its oldest, unless they include retries while first attempts (high priority) may wait
/// behind them, in which case the oldest of each priority class (reading at most
/// [`SCAN_BUDGET`] index entries per class).
fn due_of(
    c: &Connection,
    subscription_id: Uuid,
    now: i64,
    room: u32,
    request: &ClaimRequest,
    into: &mut Vec<DueAttempt<i64>>,
) -> StoreResult<()> {
    if room == 0 {
        return Ok(());
    }
    let row = |r: &rusqlite::Row| {
        Ok(DueAttempt {
            key: r.get(0)?,
            subscription_id,
            retry_count: r.get(1)?,
        })
    };
    let oldest: Vec<DueAttempt<i64>> = c
        .prepare_cached(
            "SELECT rowid, retry_count FROM request_attempt INDEXED BY request_attempt_subscription_pending
             WHERE subscription_id = ? AND due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
        )?
        .query_map(params![subscription_id, now, room], row)?
        .collect::<Result<_, _>>()?;
    let all_high = oldest
        .iter()
        .all(|d| request.is_high_priority(d.retry_count));
    let fewer_than_room = oldest.len() < room as usize;
    if all_high || fewer_than_room {
        into.extend(oldest);
        return Ok(());
    }
    let mut by_class = c.prepare_cached(
        "SELECT rowid, retry_count FROM (
             SELECT rowid, retry_count FROM request_attempt INDEXED BY request_attempt_subscription_pending
             WHERE subscription_id = ?1 AND due_at IS NOT NULL AND due_at <= ?2 ORDER BY due_at LIMIT ?5)
         WHERE (retry_count < ?3) = ?4 LIMIT ?6",
    )?;
    for (high, max) in [
        (true, request.max_high_priority),
        (false, request.max_low_priority),
    ] {
        let n = max.min(room);
        if n > 0 {
            let rows = by_class.query_map(
                params![
                    subscription_id,
                    now,
                    request.hp_retry_cutoff,
                    high,
                    SCAN_BUDGET,
                    n
                ],
                row,
            )?;
            for due in rows {
                into.push(due?);
            }
        }
    }
    Ok(())
}

/// Parks the due backlog of a stalled subscription (at most [`SCAN_BUDGET`] attempts) until
/// `until`, so that it leaves the head of the queue; outcomes release it one by one.
fn park_backlog(c: &Connection, subscription_id: Uuid, now: i64, until: i64) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE request_attempt SET due_at = ?3, picked_at = NULL WHERE rowid IN (
             SELECT rowid FROM request_attempt INDEXED BY request_attempt_subscription_pending
             WHERE subscription_id = ?1 AND due_at IS NOT NULL AND due_at <= ?2
             ORDER BY due_at LIMIT ?4)",
    )?
    .execute(params![subscription_id, now, until, SCAN_BUDGET])?;
    Ok(())
}

/// The claim reads only what it may take: the subscriptions at the head of the queue, then for
/// each one as many of its oldest due attempts as its cap leaves room for (one for a circuit
/// probe). A fast subscription's backlog is thus never read in full; a stalled one's is parked
/// in one statement; an open circuit's is held in one statement.
pub fn claim_attempts(
    c: &Connection,
    worker: &str,
    request: &ClaimRequest,
    now_time: chrono::DateTime<chrono::Utc>,
) -> StoreResult<Vec<DeliveryJob>> {
    let now = micros(now_time);
    let lease_end =
        now.saturating_add(i64::try_from(request.lease.as_micros()).unwrap_or(i64::MAX));
    let in_flight = in_flight(c, now)?;
    // A full subscription that is stalled gets its backlog parked even when it is not at the
    // head (the head passes over full subscriptions).
    let (full, mut stalled) = fair_claim::at_cap(request, now_time, &in_flight);
    let head = head_subscriptions(c, now, &full)?;
    if head.is_empty() && stalled.is_empty() {
        return Ok(Vec::new());
    }
    let mut circuits = HashMap::new();
    let mut due = Vec::new();
    for subscription_id in head {
        let circuit = circuits::circuit(c, subscription_id)?;
        let leases = in_flight.get(&subscription_id);
        match fair_claim::read(
            request,
            now_time,
            time(lease_end),
            &subscription_id,
            leases,
            &circuit,
        ) {
            Read::Hold { until } => {
                circuits::hold_pending(c, subscription_id, micros(until), now)?;
            }
            Read::Take { n, stalled: slow } => {
                due_of(c, subscription_id, now, n, request, &mut due)?;
                if slow {
                    stalled.push(subscription_id);
                }
            }
        }
        circuits.insert(subscription_id, circuit);
    }
    let plan = fair_claim::plan(
        request,
        now_time,
        time(lease_end),
        &due,
        &in_flight,
        &circuits,
    );

    let mut lease = c.prepare_cached(
        "UPDATE request_attempt SET picked_at = ?, due_at = ?, worker_name = ? WHERE rowid = ?",
    )?;
    for rowid in &plan.claimed {
        lease.execute(params![now, lease_end, worker, rowid])?;
    }
    for subscription_id in &plan.probes {
        let mut circuit = circuits.remove(subscription_id).unwrap_or_default();
        circuit.start_probe(now_time);
        circuits::save_circuit(c, *subscription_id, &circuit)?;
        // The others wait for the probe's outcome (leased, the probe itself is not held).
        circuits::hold_pending(c, *subscription_id, lease_end, now)?;
    }
    // What was read beyond a cap or a class limit simply stays due; a stalled subscription's
    // backlog (what was not just leased) leaves the head.
    let park_end = micros(fair_claim::park_until(now_time, request.lease));
    for subscription_id in stalled {
        park_backlog(c, subscription_id, now, park_end)?;
    }
    load_jobs(c, &plan.claimed, now)
}

/// Everything the worker needs to send each claimed attempt, in the given order.
pub fn load_jobs(c: &Connection, rowids: &[i64], now: i64) -> StoreResult<Vec<DeliveryJob>> {
    // One prepared lookup per claimed attempt: a fixed statement stays in the statement cache,
    // where an `IN (…)` list of varying length would compile a new one per batch size.
    let mut stmt = c.prepare_cached(
        "SELECT ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count, ra.created_at,
                ra.delay_until, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
                s.target_method, s.target_url, s.target_headers, s.secret, s.standard_webhooks
         FROM request_attempt ra
         JOIN event e ON e.application_id = ra.application_id AND e.id = ra.event_id
         JOIN subscription s ON s.id = ra.subscription_id
         WHERE ra.rowid = ?",
    )?;
    let mut secrets: HashMap<Uuid, Vec<String>> = HashMap::new();
    let mut jobs = Vec::with_capacity(rowids.len());
    for rowid in rowids {
        let (mut job, content_type, headers, standard_webhooks) =
            stmt.query_row([rowid], |row| {
                let created_at = time(row.get(5)?);
                let delay_until = opt_time(row.get(6)?);
                let job = DeliveryJob {
                    attempt: AttemptRef {
                        attempt_id: row.get(0)?,
                        application_id: row.get(1)?,
                        event_id: row.get(2)?,
                        subscription_id: row.get(3)?,
                        retry_count: row.get(4)?,
                    },
                    due_at: delay_until.map_or(created_at, |d| d.max(created_at)),
                    event_received_at: time(row.get(7)?),
                    event_type_name: row.get(8)?,
                    payload: row.get(9)?,
                    payload_content_type: PayloadContentType::TextPlain,
                    target: HttpTarget {
                        method: row.get(11)?,
                        url: row.get(12)?,
                        headers: Default::default(),
                    },
                    secret: row.get(14)?,
                    standard_webhooks_secrets: Vec::new(),
                };
                Ok((
                    job,
                    row.get::<_, String>(10)?,
                    row.get::<_, String>(13)?,
                    row.get::<_, bool>(15)?,
                ))
            })?;
        job.payload_content_type = PayloadContentType::parse(&content_type)
            .ok_or_else(|| StoreError::Database(format!("unknown content type {content_type}")))?;
        job.target.headers = from_json(&headers)?;
        job.standard_webhooks_secrets = if standard_webhooks {
            match secrets.entry(job.attempt.subscription_id) {
                Entry::Occupied(known) => known.get().clone(),
                Entry::Vacant(vacant) => {
                    let live = signing::live_secrets(c, job.attempt.subscription_id, now)?;
                    vacant
                        .insert(live.into_iter().map(|s| s.secret).collect())
                        .clone()
                }
            }
        } else {
            Vec::new()
        };
        jobs.push(job);
    }
    Ok(jobs)
}
