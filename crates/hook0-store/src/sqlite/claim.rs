//! The fair claim on SQLite: which due attempts a worker leases, so that one slow, hanging or
//! failing target cannot starve the others.
//!
//! The claim reads at most [`SCAN_BUDGET`] due attempts in due order from a covering partial
//! index (finished attempts are not in it) and, per subscription:
//! - **circuit open**: none is taken; each one read is held until the cool-down ends;
//! - **cool-down over** (or a half-open probe lost): exactly one is taken as the probe, the
//!   circuit becomes half-open, and the subscription's other pending attempts are held until
//!   the probe's outcome (which releases them at once when it succeeds);
//! - **closed**: up to `max_in_flight_per_subscription` minus the subscription's attempts under
//!   lease (every worker's leases count: the cap protects the target, not the worker); the
//!   others read are *parked*: held until the lease horizon, and released a few at a time, as
//!   the subscription's deliveries finish (`record_outcomes` releases one per outcome). A
//!   hanging target's backlog thus leaves the head of the queue after being read once, instead
//!   of being walked over by every claim; the horizon only matters if a release is missed.
//!
//! The candidates are then taken round-robin (each subscription's oldest, then each one's
//! second, …), high priority (`retry_count < hp_retry_cutoff`) before low, within the per-class
//! limits the worker computed from its reserved capacity. That is the `ROW_NUMBER() OVER
//! (PARTITION BY subscription_id ORDER BY due_at)` ordering, computed while reading the rows.
//!
//! Everything happens in one write closure, so counts and leases cannot race. Held and parked
//! attempts keep `delay_until` and `retry_count`: only `due_at` moves (see `health`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use hook0_core::circuit::{Admission, Circuit};
use hook0_core::delivery::{AttemptRef, ClaimRequest, ClaimedJob, DeliveryJob};
use hook0_core::model::{HttpTarget, PayloadContentType};
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::convert::*;
use super::{health, signing};
use crate::{StoreError, StoreResult};

/// Most due attempts one claim reads: bounds the work of a claim that meets a large blocked
/// backlog (which it parks, so the next claim reads past it).
pub const SCAN_BUDGET: u32 = 2048;

/// A due attempt as the scan reads it (by rowid: the index covers it, no table read).
struct Due {
    rowid: i64,
    subscription_id: Uuid,
    retry_count: i32,
}

/// One subscription's share of this claim.
struct Lane {
    circuit: Circuit,
    admission: Admission,
    /// How many more of its attempts may be in flight.
    room: u32,
    /// Candidates taken from it so far.
    taken: u32,
    /// Read but held back by its circuit.
    held: Vec<i64>,
    /// Read beyond its room: parked until its deliveries finish.
    parked: Vec<i64>,
}

struct Candidate {
    rowid: i64,
    subscription_id: Uuid,
    high_priority: bool,
    /// Position among its subscription's candidates: the round-robin key.
    rank: u32,
    /// Position in due order.
    order: usize,
}

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

/// Due attempts, oldest first.
fn due(c: &Connection, now: i64) -> StoreResult<Vec<Due>> {
    let rows = c
        .prepare_cached(
            "SELECT rowid, subscription_id, retry_count FROM request_attempt INDEXED BY request_attempt_due
             WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
        )?
        .query_map(params![now, SCAN_BUDGET], |r| {
            Ok(Due {
                rowid: r.get(0)?,
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

    let mut lanes: HashMap<Uuid, Lane> = HashMap::new();
    let mut candidates = Vec::new();
    for (order, attempt) in due.into_iter().enumerate() {
        let lane = match lanes.entry(attempt.subscription_id) {
            Entry::Occupied(lane) => lane.into_mut(),
            Entry::Vacant(vacant) => {
                let circuit = health::circuit(c, attempt.subscription_id)?;
                let flying = in_flight
                    .get(&attempt.subscription_id)
                    .copied()
                    .unwrap_or(0);
                let admission = circuit.admission(now_time, flying, time(lease_end));
                vacant.insert(Lane {
                    circuit,
                    admission,
                    room: request
                        .max_in_flight_per_subscription
                        .saturating_sub(flying),
                    taken: 0,
                    held: Vec::new(),
                    parked: Vec::new(),
                })
            }
        };
        let room = match lane.admission {
            Admission::Hold { .. } => {
                lane.held.push(attempt.rowid);
                continue;
            }
            Admission::Probe => 1,
            Admission::Admit => lane.room,
        };
        if lane.taken < room {
            candidates.push(Candidate {
                rowid: attempt.rowid,
                subscription_id: attempt.subscription_id,
                high_priority: request.is_high_priority(attempt.retry_count),
                rank: lane.taken,
                order,
            });
            lane.taken += 1;
        } else if lane.admission == Admission::Admit {
            lane.parked.push(attempt.rowid);
        }
    }

    candidates.sort_by_key(|c| (!c.high_priority, c.rank, c.order));
    let (mut high, mut low) = (0, 0);
    let mut claimed = Vec::new();
    for candidate in candidates {
        if claimed.len() >= request.limit as usize {
            break;
        }
        let (count, max) = if candidate.high_priority {
            (&mut high, request.max_high_priority)
        } else {
            (&mut low, request.max_low_priority)
        };
        if *count < max {
            *count += 1;
            claimed.push(candidate);
        }
    }

    let mut lease = c.prepare_cached(
        "UPDATE request_attempt SET picked_at = ?, due_at = ?, worker_name = ? WHERE rowid = ?",
    )?;
    for candidate in &claimed {
        lease.execute(params![now, lease_end, worker, candidate.rowid])?;
        let lane = lanes
            .get_mut(&candidate.subscription_id)
            .expect("every candidate has a lane");
        if lane.admission == Admission::Probe {
            lane.circuit.start_probe(now_time);
            health::save_circuit(c, candidate.subscription_id, &lane.circuit)?;
            // The others wait for the probe's outcome.
            health::hold_pending(c, candidate.subscription_id, lease_end, now)?;
        }
    }
    let mut hold = c.prepare_cached(
        "UPDATE request_attempt SET due_at = ?, picked_at = NULL WHERE rowid = ?",
    )?;
    for lane in lanes.values() {
        if let Admission::Hold { until } = lane.admission {
            for rowid in &lane.held {
                hold.execute(params![micros(until), rowid])?;
            }
        }
        for rowid in &lane.parked {
            hold.execute(params![lease_end, rowid])?;
        }
    }
    let rowids: Vec<i64> = claimed.iter().map(|c| c.rowid).collect();
    load_jobs(c, &rowids, now)
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
