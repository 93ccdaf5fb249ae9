//! Subscription health on SQLite: the circuit breaker row of each subscription, holding and
//! releasing the attempts an open circuit (or the in-flight cap: "parked") keeps back, and
//! auto-disabling a subscription that keeps failing.
//!
//! An attempt is held by moving its `due_at` past its own due time (`max(created_at,
//! delay_until)`), never by touching `retry_count` or `delay_until`: a held attempt is delayed,
//! not failed, and releasing it is putting `due_at` back.

use hook0_core::circuit::{Circuit, CircuitState};
use hook0_core::model::SUBSCRIPTION_DISABLED;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;
use uuid::Uuid;

use super::convert::*;
use crate::{StoreError, StoreResult};

/// The subscription's circuit; closed when it has no health row.
pub fn circuit(c: &Connection, subscription_id: Uuid) -> StoreResult<Circuit> {
    let row = c
        .prepare_cached(
            "SELECT circuit_state, circuit_since, consecutive_failures, open_until, trips, failing_since
             FROM subscription_health WHERE subscription_id = ?",
        )?
        .query_row([subscription_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Circuit {
                    state: CircuitState::Closed,
                    since: opt_time(r.get(1)?),
                    consecutive_failures: r.get(2)?,
                    open_until: opt_time(r.get(3)?),
                    trips: r.get(4)?,
                    failing_since: opt_time(r.get(5)?),
                },
            ))
        })
        .optional()?;
    let Some((state, mut circuit)) = row else {
        return Ok(Circuit::default());
    };
    circuit.state = CircuitState::parse(&state)
        .ok_or_else(|| StoreError::Database(format!("unknown circuit state {state}")))?;
    Ok(circuit)
}

/// Stores the circuit (the auto-disable mark is left as it is).
pub fn save_circuit(c: &Connection, subscription_id: Uuid, circuit: &Circuit) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO subscription_health (subscription_id, circuit_state, circuit_since, consecutive_failures,
             open_until, trips, failing_since)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (subscription_id) DO UPDATE SET circuit_state = excluded.circuit_state,
             circuit_since = excluded.circuit_since, consecutive_failures = excluded.consecutive_failures,
             open_until = excluded.open_until, trips = excluded.trips, failing_since = excluded.failing_since",
    )?
    .execute(params![
        subscription_id,
        circuit.state.as_str(),
        circuit.since.map(micros),
        circuit.consecutive_failures,
        circuit.open_until.map(micros),
        circuit.trips,
        circuit.failing_since.map(micros),
    ])?;
    Ok(())
}

/// Forgets a subscription's health (closed circuit, no failures): when a disabled subscription
/// is enabled again, it starts afresh.
pub fn reset(c: &Connection, subscription_id: Uuid) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM subscription_health WHERE subscription_id = ?")?
        .execute([subscription_id])?;
    Ok(())
}

/// Holds every pending attempt of the subscription that would be due before `until`, leaving
/// those under a live lease alone.
pub fn hold_pending(
    c: &Connection,
    subscription_id: Uuid,
    until: i64,
    now: i64,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE request_attempt SET due_at = ?1, picked_at = NULL
         WHERE subscription_id = ?2 AND due_at IS NOT NULL AND due_at < ?1
           AND (picked_at IS NULL OR due_at <= ?3)",
    )?
    .execute(params![until, subscription_id, now])?;
    Ok(())
}

/// Makes the subscription's held attempts due again at their own time (oldest first).
pub fn release_held(c: &Connection, subscription_id: Uuid) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE request_attempt SET due_at = MAX(created_at, COALESCE(delay_until, created_at))
         WHERE subscription_id = ? AND due_at IS NOT NULL AND picked_at IS NULL
           AND due_at > MAX(created_at, COALESCE(delay_until, created_at))",
    )?
    .execute([subscription_id])?;
    Ok(())
}

/// Makes up to `count` of the subscription's held attempts due again at their own time, those
/// held first first: the in-flight slots its finished deliveries freed, for the attempts the
/// claim parked at its cap.
pub fn release_parked(
    c: &Connection,
    subscription_id: Uuid,
    count: usize,
    now: i64,
) -> StoreResult<usize> {
    let released = c
        .prepare_cached(
            "UPDATE request_attempt SET due_at = MAX(created_at, COALESCE(delay_until, created_at))
         WHERE rowid IN (
             SELECT rowid FROM request_attempt
             WHERE subscription_id = ?1 AND due_at IS NOT NULL AND due_at > ?2 AND picked_at IS NULL
               AND due_at > MAX(created_at, COALESCE(delay_until, created_at))
             ORDER BY due_at LIMIT ?3)",
        )?
        .execute(params![subscription_id, now, count as i64])?;
    Ok(released)
}

/// Disables a subscription that has been failing continuously: its pending attempts fail as
/// dead letters (they can be redelivered once it is fixed and enabled again) and an
/// `api.subscription.disabled` operational event is recorded. `Ok(false)` when it was already
/// disabled or deleted.
pub fn auto_disable(
    c: &Connection,
    subscription_id: Uuid,
    circuit: &Circuit,
    at: i64,
) -> StoreResult<bool> {
    let disabled: Option<(Uuid, Uuid, Option<String>, String)> = c
        .prepare_cached(
            "UPDATE subscription SET is_enabled = 0, updated_at = ?1
             WHERE id = ?2 AND is_enabled = 1 AND deleted_at IS NULL
             RETURNING application_id,
                 (SELECT organization_id FROM application WHERE id = subscription.application_id),
                 description, target_url",
        )?
        .query_row(params![at, subscription_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((application_id, organization_id, description, target_url)) = disabled else {
        return Ok(false);
    };
    c.prepare_cached(
        "UPDATE request_attempt SET failed_at = ?1, dead_lettered_at = ?1, due_at = NULL
         WHERE subscription_id = ?2 AND due_at IS NOT NULL",
    )?
    .execute(params![at, subscription_id])?;
    super::ordering::fail_waiting(c, subscription_id, at, true)?;
    c.prepare_cached(
        "INSERT INTO subscription_health (subscription_id, circuit_state, consecutive_failures, trips, auto_disabled_at)
         VALUES (?1, 'closed', 0, 0, ?2)
         ON CONFLICT (subscription_id) DO UPDATE SET auto_disabled_at = ?2",
    )?
    .execute(params![subscription_id, at])?;
    let payload = json!({
        "organization_id": organization_id,
        "application_id": application_id,
        "subscription_id": subscription_id,
        "description": description,
        "target_url": target_url,
        "reason": "failing_continuously",
        "failing_since": circuit.failing_since,
        "consecutive_failures": circuit.consecutive_failures,
        "disabled_at": time(at),
    });
    super::operational::record(
        c,
        organization_id,
        application_id,
        SUBSCRIPTION_DISABLED,
        &payload,
        at,
    )?;
    tracing::warn!(%subscription_id, %application_id, "subscription auto-disabled after failing continuously");
    Ok(true)
}
