//! Subscription health on PostgreSQL: the circuit breaker row of each subscription, holding and
//! releasing the attempts an open circuit (or the in-flight cap: "parked") keeps back, and
//! auto-disabling a subscription that keeps failing. The same rules as `sqlite/circuits.rs`: an
//! attempt is held by moving its `due_at` only, never its `retry_count` or `delay_until`.
//!
//! Callers hold the subscription's row lock (outcomes) or the health row's (claims) first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hook0_core::circuit::{Circuit, CircuitState};
use hook0_core::model::SUBSCRIPTION_DISABLED;
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{StoreError, StoreResult};

pub(super) const HEALTH_COLUMNS: &str = "subscription_id, circuit_state, circuit_since, \
    consecutive_failures, open_until, trips, failing_since";

/// A circuit out of a `subscription_health` row read with [`HEALTH_COLUMNS`].
pub(super) fn circuit_of(row: &PgRow) -> StoreResult<Circuit> {
    let state: String = row.get("circuit_state");
    Ok(Circuit {
        state: CircuitState::parse(&state)
            .ok_or_else(|| StoreError::Database(format!("unknown circuit state {state}")))?,
        since: row.get("circuit_since"),
        consecutive_failures: row.get::<i32, _>("consecutive_failures").max(0) as u32,
        open_until: row.get("open_until"),
        trips: row.get::<i32, _>("trips").max(0) as u32,
        failing_since: row.get("failing_since"),
    })
}

/// The circuits of `subscription_ids` (sorted), locking their health rows in that order;
/// closed for those without a row.
pub(super) async fn circuits_for_update(
    c: &mut PgConnection,
    subscription_ids: &[Uuid],
) -> StoreResult<HashMap<Uuid, Circuit>> {
    let mut circuits: HashMap<Uuid, Circuit> = subscription_ids
        .iter()
        .map(|id| (*id, Circuit::default()))
        .collect();
    if subscription_ids.is_empty() {
        return Ok(circuits);
    }
    let sql = format!(
        "SELECT {HEALTH_COLUMNS} FROM subscription_health WHERE subscription_id = ANY($1)
         ORDER BY subscription_id FOR UPDATE"
    );
    for row in sqlx::query(&sql)
        .bind(subscription_ids)
        .fetch_all(&mut *c)
        .await?
    {
        circuits.insert(row.get("subscription_id"), circuit_of(&row)?);
    }
    Ok(circuits)
}

/// Stores the circuit (the auto-disable mark is left as it is).
pub(super) async fn save_circuit(
    c: &mut PgConnection,
    subscription_id: Uuid,
    circuit: &Circuit,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO subscription_health (subscription_id, circuit_state, circuit_since, consecutive_failures,
             open_until, trips, failing_since)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (subscription_id) DO UPDATE SET circuit_state = excluded.circuit_state,
             circuit_since = excluded.circuit_since, consecutive_failures = excluded.consecutive_failures,
             open_until = excluded.open_until, trips = excluded.trips, failing_since = excluded.failing_since",
    )
    .bind(subscription_id)
    .bind(circuit.state.as_str())
    .bind(circuit.since)
    .bind(i32::try_from(circuit.consecutive_failures).unwrap_or(i32::MAX))
    .bind(circuit.open_until)
    .bind(i32::try_from(circuit.trips).unwrap_or(i32::MAX))
    .bind(circuit.failing_since)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Forgets a subscription's health: an enabled-again subscription starts afresh.
pub(super) async fn reset(c: &mut PgConnection, subscription_id: Uuid) -> StoreResult<()> {
    sqlx::query("DELETE FROM subscription_health WHERE subscription_id = $1")
        .bind(subscription_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Holds every pending attempt of the subscription that would be due before `until`, leaving
/// those under a live lease alone.
pub(super) async fn hold_pending(
    c: &mut PgConnection,
    subscription_id: Uuid,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE request_attempt SET due_at = $1, picked_at = NULL
         WHERE subscription_id = $2 AND due_at IS NOT NULL AND due_at < $1
           AND (picked_at IS NULL OR due_at <= $3)",
    )
    .bind(until)
    .bind(subscription_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Makes the subscription's held attempts due again at their own time.
pub(super) async fn release_held(c: &mut PgConnection, subscription_id: Uuid) -> StoreResult<()> {
    sqlx::query(
        "UPDATE request_attempt SET due_at = GREATEST(created_at, COALESCE(delay_until, created_at))
         WHERE subscription_id = $1 AND due_at IS NOT NULL AND picked_at IS NULL
           AND due_at > GREATEST(created_at, COALESCE(delay_until, created_at))",
    )
    .bind(subscription_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Per `(subscription, count)`, makes up to `count` of the subscription's held attempts due
/// again at their own time, those held first first: the in-flight slots its finished
/// deliveries freed. One statement for all.
pub(super) async fn release_parked(
    c: &mut PgConnection,
    releases: &[(Uuid, usize)],
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    if releases.is_empty() {
        return Ok(0);
    }
    let subscriptions: Vec<Uuid> = releases.iter().map(|(id, _)| *id).collect();
    let counts: Vec<i64> = releases.iter().map(|(_, n)| *n as i64).collect();
    let released = sqlx::query(
        "UPDATE request_attempt SET due_at = GREATEST(created_at, COALESCE(delay_until, created_at))
         WHERE id IN (
             SELECT p.id FROM UNNEST($1::uuid[], $2::int8[]) AS f(subscription_id, n)
             CROSS JOIN LATERAL (
                 SELECT id FROM request_attempt
                 WHERE subscription_id = f.subscription_id AND due_at IS NOT NULL AND due_at > $3
                   AND picked_at IS NULL
                   AND due_at > GREATEST(created_at, COALESCE(delay_until, created_at))
                 ORDER BY due_at LIMIT f.n) p)",
    )
    .bind(&subscriptions)
    .bind(&counts)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(released.rows_affected())
}

/// Disables a subscription that has been failing continuously: its pending attempts fail as
/// dead letters and an `api.subscription.disabled` operational event is recorded. `Ok(false)`
/// when it was already disabled or deleted.
pub(super) async fn auto_disable(
    c: &mut PgConnection,
    subscription_id: Uuid,
    circuit: &Circuit,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let row = sqlx::query(
        "UPDATE subscription SET is_enabled = false, updated_at = $1
         WHERE id = $2 AND is_enabled AND deleted_at IS NULL
         RETURNING application_id,
             (SELECT organization_id FROM application WHERE id = subscription.application_id) AS organization_id,
             description, target_url",
    )
    .bind(at)
    .bind(subscription_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let application_id: Uuid = row.get("application_id");
    let organization_id: Uuid = row.get("organization_id");
    let description: Option<String> = row.get("description");
    let target_url: String = row.get("target_url");
    sqlx::query(
        "UPDATE request_attempt SET failed_at = $1, dead_lettered_at = $1, due_at = NULL
         WHERE id IN (SELECT id FROM request_attempt WHERE subscription_id = $2 AND due_at IS NOT NULL
                      ORDER BY id FOR UPDATE)",
    )
    .bind(at)
    .bind(subscription_id)
    .execute(&mut *c)
    .await?;
    super::ordering::fail_waiting(c, subscription_id, at, true).await?;
    sqlx::query(
        "INSERT INTO subscription_health (subscription_id, circuit_state, consecutive_failures, trips, auto_disabled_at)
         VALUES ($1, 'closed', 0, 0, $2)
         ON CONFLICT (subscription_id) DO UPDATE SET auto_disabled_at = $2",
    )
    .bind(subscription_id)
    .bind(at)
    .execute(&mut *c)
    .await?;
    let payload = json!({
        "organization_id": organization_id,
        "application_id": application_id,
        "subscription_id": subscription_id,
        "description": description,
        "target_url": target_url,
        "reason": "failing_continuously",
        "failing_since": circuit.failing_since,
        "consecutive_failures": circuit.consecutive_failures,
        "disabled_at": at,
    });
    super::operational::record(
        c,
        organization_id,
        application_id,
        SUBSCRIPTION_DISABLED,
        &payload,
        at,
    )
    .await?;
    tracing::warn!(%subscription_id, %application_id, "subscription auto-disabled after failing continuously");
    Ok(true)
}
