//! The delivery queue on SQLite, besides the claim (`claim.rs`): outcomes, release, the next due
//! time. A pending attempt has a `due_at`; a claim moves it to the end of the lease, so an
//! attempt whose worker died becomes due again by itself; finishing clears it, which takes the
//! row out of the partial index the claim scans.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hook0_core::circuit::{Circuit, CircuitState, Transition};
use hook0_core::delivery::{DeliveryOutcome, OutcomePolicy};
use rusqlite::{params, params_from_iter, Connection};
use uuid::Uuid;

use super::circuits;
use super::convert::*;
use crate::StoreResult;

/// Writes each outcome: finishes the attempt, stores its response, then either schedules its
/// retry row or marks it a dead letter. Each outcome also moves its subscription's circuit (an opening holds the pending attempts, a closing releases them; a
/// retry row of an open circuit is due when the cool-down ends) and a subscription failing for
/// longer than allowed is auto-disabled. Returns whether attempts may have become due (the
/// worker is to be woken: retry rows, released attempts, freed in-flight slots).
pub fn record_outcomes(
    c: &Connection,
    outcomes: &[DeliveryOutcome],
    policy: &OutcomePolicy,
) -> StoreResult<bool> {
    let mut finish = c.prepare_cached(
        "UPDATE request_attempt SET succeeded_at = ?, failed_at = ?, response_id = ?, due_at = NULL
         WHERE id = ? AND succeeded_at IS NULL AND failed_at IS NULL",
    )?;
    let mut insert_response = c.prepare_cached(
        "INSERT INTO response (id, application_id, error_name, http_code, headers, body, elapsed_time_ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    let mut insert_retry = c.prepare_cached(
        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
             delay_until, due_at, retry_count)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM subscription s JOIN application app ON app.id = s.application_id
                       WHERE s.id = ? AND s.is_enabled = 1 AND s.deleted_at IS NULL AND app.deleted_at IS NULL)",
    )?;
    let mut dead_letter =
        c.prepare_cached("UPDATE request_attempt SET dead_lettered_at = ? WHERE id = ?")?;
    let now = micros(now());
    // Each subscription's circuit as read, and as moved by this batch's outcomes.
    let mut circuits: HashMap<Uuid, (Circuit, Circuit)> = HashMap::new();
    // Deliveries finished per subscription: as many parked attempts may go.
    let mut finished: HashMap<Uuid, usize> = HashMap::new();
    let mut wake = false;
    for o in outcomes {
        let a = &o.attempt;
        let done_at = micros(o.completed_at);
        let (succeeded_at, failed_at) = if o.succeeded {
            (Some(done_at), None)
        } else {
            (None, Some(done_at))
        };
        // The guard makes a second report for the same attempt (lease expired and redelivered,
        // or attempt failed by a subscription change meanwhile) a no-op.
        if finish.execute(params![
            succeeded_at,
            failed_at,
            o.response.id,
            a.attempt_id
        ])? == 0
        {
            continue;
        }
        wake = true;
        *finished.entry(a.subscription_id).or_default() += 1;
        let r = &o.response;
        insert_response.execute(params![
            r.id,
            r.application_id,
            r.error_name,
            r.http_code,
            r.headers.as_ref().map(to_json),
            r.body,
            r.elapsed_time_ms,
            done_at,
        ])?;

        let mut held_until = None;
        let mut disabled = false;
        {
            let (_, circuit) = match circuits.entry(a.subscription_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(vacant) => {
                    let read = circuits::circuit(c, a.subscription_id)?;
                    vacant.insert((read.clone(), read))
                }
            };
            let transition = if o.succeeded {
                circuit.record_success(o.completed_at)
            } else {
                circuit.record_failure(o.completed_at, &policy.circuit)
            };
            match transition {
                Transition::Opened { until } => {
                    tracing::info!(subscription_id = %a.subscription_id, %until, "circuit opened");
                    circuits::hold_pending(c, a.subscription_id, micros(until), now)?;
                }
                Transition::Closed => {
                    tracing::info!(subscription_id = %a.subscription_id, "circuit closed");
                    circuits::release_held(c, a.subscription_id)?;
                }
                Transition::Unchanged => {}
            }
            if circuit.state == CircuitState::Open {
                held_until = circuit.open_until.map(micros);
            }
            if !o.succeeded {
                if let Some(window) = policy.auto_disable_after {
                    if circuit.failing_for(o.completed_at, window, policy.circuit.failure_threshold)
                    {
                        disabled = circuits::auto_disable(c, a.subscription_id, circuit, done_at)?;
                    }
                }
            }
        }
        if o.succeeded {
            continue;
        }
        match o.retry_at {
            Some(retry_at) if !disabled => {
                let retry_at = micros(retry_at);
                let due_at = held_until.map_or(retry_at, |held| held.max(retry_at));
                insert_retry.execute(params![
                    Uuid::now_v7(),
                    a.application_id,
                    a.event_id,
                    a.subscription_id,
                    done_at,
                    retry_at,
                    due_at,
                    a.retry_count + 1,
                    a.subscription_id,
                ])?;
            }
            // A failure with no retry left, or whose subscription was just auto-disabled.
            _ => {
                dead_letter.execute(params![done_at, a.attempt_id])?;
            }
        }
    }
    for (subscription_id, count) in finished {
        // An open circuit keeps them held; the claim would only hold them again.
        let closed = circuits
            .get(&subscription_id)
            .is_none_or(|(_, circuit)| circuit.state == CircuitState::Closed);
        if closed {
            circuits::release_parked(c, subscription_id, count, now)?;
        }
    }
    // A healthy subscription's circuit does not change: no write for it.
    for (subscription_id, (read, circuit)) in &circuits {
        if read != circuit {
            circuits::save_circuit(c, *subscription_id, circuit)?;
        }
    }
    Ok(wake)
}

pub fn release_attempts(c: &Connection, attempt_ids: &[Uuid]) -> StoreResult<()> {
    if attempt_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE request_attempt SET picked_at = NULL, due_at = {} WHERE due_at IS NOT NULL AND id IN ({})",
        micros(now()),
        placeholders(attempt_ids.len())
    );
    c.execute(&sql, params_from_iter(attempt_ids.iter()))?;
    Ok(())
}

pub fn next_due_at(c: &Connection) -> StoreResult<Option<DateTime<Utc>>> {
    let due: Option<i64> = c
        .prepare_cached("SELECT MIN(due_at) FROM request_attempt WHERE due_at IS NOT NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(opt_time(due))
}
