//! The fair claim on SQLite: reads what [`crate::fair_claim::plan`] needs (due attempts from a
//! covering partial index that holds no finished attempt, leases in flight per subscription,
//! circuits) and writes its plan back, all in one write closure, so counts and leases cannot
//! race. Held and parked attempts keep `delay_until` and `retry_count`: only `due_at` moves (see
//! `health`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use hook0_core::delivery::{AttemptRef, ClaimRequest, ClaimedJob, DeliveryJob};
use hook0_core::model::{HttpTarget, PayloadContentType};
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::convert::*;
use super::{health, signing};
use crate::fair_claim::{self, DueAttempt, SCAN_BUDGET};
use crate::{StoreError, StoreResult};

/// Attempts under a live lease, per subscription.
fn in_flight(c: &Connection, now: i64) -> StoreResult<HashMap<Uuid, u32>> {
    let counts = c
        .prepare_cached(
            "SELECT subscription_id, COUNT(*) FROM request_attempt INDEXED BY request_attempt_leased
             WHERE picked_at IS NOT NULL AND due_at IS NOT NULL AND due_at > ?
             GROUP BY subscription_id",
        )?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

/// Due attempts, oldest first, addressed by rowid (the index covers it: no table read).
fn due(c: &Connection, now: i64) -> StoreResult<Vec<DueAttempt<i64>>> {
    let rows = c
        .prepare_cached(
            "SELECT rowid, subscription_id, retry_count FROM request_attempt INDEXED BY request_attempt_due
             WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
        )?
        .query_map(params![now, SCAN_BUDGET], |r| {
            Ok(DueAttempt {
                key: r.get(0)?,
                subscription_id: r.get(1)?,
                retry_count: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn claim_attempts(
    c: &Connection,
    worker: &str,
    request: &ClaimRequest,
) -> StoreResult<Vec<ClaimedJob>> {
    let now_time = now();
    let now = micros(now_time);
    let lease_end =
        now.saturating_add(i64::try_from(request.lease.as_micros()).unwrap_or(i64::MAX));
    let due = due(c, now)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let in_flight = in_flight(c, now)?;
    let mut circuits = HashMap::new();
    for attempt in &due {
        if let Entry::Vacant(vacant) = circuits.entry(attempt.subscription_id) {
            vacant.insert(health::circuit(c, attempt.subscription_id)?);
        }
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
        health::save_circuit(c, *subscription_id, &circuit)?;
        // The others wait for the probe's outcome (leased, the probe itself is not held).
        health::hold_pending(c, *subscription_id, lease_end, now)?;
    }
    let mut hold = c.prepare_cached(
        "UPDATE request_attempt SET due_at = ?, picked_at = NULL WHERE rowid = ?",
    )?;
    for (rowid, until) in &plan.held {
        hold.execute(params![micros(*until), rowid])?;
    }
    for rowid in &plan.parked {
        hold.execute(params![lease_end, rowid])?;
    }
    load_jobs(c, &plan.claimed, now)
}

/// Everything the worker needs to send each claimed attempt, in the given order.
pub fn load_jobs(c: &Connection, rowids: &[i64], now: i64) -> StoreResult<Vec<ClaimedJob>> {
    // One prepared lookup per claimed attempt: a fixed statement stays in the statement cache,
    // where an `IN (…)` list of varying length would compile a new one per batch size.
    let mut stmt = c.prepare_cached(
        "SELECT ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count, ra.created_at,
                ra.delay_until, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
                s.target_method, s.target_url, s.target_headers, s.secret, s.standard_webhooks
         FROM request_attempt ra
         JOIN event e ON e.id = ra.event_id
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
        let standard_webhooks_secrets = if standard_webhooks {
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
        jobs.push(ClaimedJob {
            job,
            standard_webhooks_secrets,
        });
    }
    Ok(jobs)
}
