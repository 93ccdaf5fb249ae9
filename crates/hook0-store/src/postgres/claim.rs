//! The fair claim on PostgreSQL: reads what [`crate::fair_claim::plan`] needs (due attempts
//! locked with `FOR UPDATE SKIP LOCKED`, leases in flight per subscription, circuits) and writes
//! its plan back, all in one transaction.
//!
//! The claim never waits for a lock: due attempts, the per-subscription claim advisory lock and
//! `subscription_health` rows another transaction holds are skipped, and so are the due attempts of a subscription whose health row
//! is locked (an outcome is moving its circuit; they are claimed by the next call). Outcome
//! writers take subscription, attempt and health locks in that order and may wait, so with a
//! claim that waited on health rows while holding attempts the two could deadlock.

use std::collections::{HashMap, HashSet};

use chrono::{TimeDelta, Utc};
use hook0_core::delivery::{AttemptRef, ClaimRequest, ClaimedJob, DeliveryJob};
use hook0_core::model::HttpTarget;
use sqlx::Row;
use uuid::Uuid;

use super::convert::*;
use super::health::{self, circuit_of, HEALTH_COLUMNS};
use super::signing::live_secrets;
use super::PostgresStore;
use crate::fair_claim::{self, DueAttempt, Leases, SCAN_BUDGET};
use crate::StoreResult;

/// The advisory lock key of subscription `s.id` for claims: 64 bits of its md5, so that it
/// does not collide with the migration lock or other users of advisory locks in practice.
const CLAIM_LOCK_KEY: &str = "('x' || left(md5('hook0_claim' || s.id::text), 16))::bit(64)::bigint";

impl PostgresStore {
    pub(super) async fn claim_attempts_impl(
        &self,
        worker: &str,
        request: &ClaimRequest,
    ) -> StoreResult<Vec<ClaimedJob>> {
        let now = now();
        let lease_end = TimeDelta::from_std(request.lease)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT id, subscription_id, retry_count FROM request_attempt
             WHERE due_at IS NOT NULL AND due_at <= $1
             ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(i64::from(SCAN_BUDGET))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut due: Vec<DueAttempt<Uuid>> = rows
            .iter()
            .map(|r| DueAttempt {
                key: r.get("id"),
                subscription_id: r.get("subscription_id"),
                retry_count: r.get("retry_count"),
            })
            .collect();
        let mut subscriptions: Vec<Uuid> = due.iter().map(|d| d.subscription_id).collect();
        subscriptions.sort();
        subscriptions.dedup();
        // One claim at a time per subscription, so that the in-flight count read below is not
        // stale when the cap is applied; a subscription another claim holds is skipped.
        let mut subscriptions: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT id FROM UNNEST($1::uuid[]) WITH ORDINALITY AS s(id, n)
             WHERE pg_try_advisory_xact_lock({CLAIM_LOCK_KEY}) ORDER BY n"
        ))
        .bind(&subscriptions)
        .fetch_all(&mut *tx)
        .await?;
        subscriptions.sort();
        due.retain(|d| subscriptions.binary_search(&d.subscription_id).is_ok());
        if due.is_empty() {
            return Ok(Vec::new());
        }

        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM subscription_health WHERE subscription_id = ANY($1)
             ORDER BY subscription_id FOR UPDATE SKIP LOCKED"
        );
        let mut circuits = HashMap::new();
        for row in sqlx::query(&sql)
            .bind(&subscriptions)
            .fetch_all(&mut *tx)
            .await?
        {
            circuits.insert(row.get::<Uuid, _>("subscription_id"), circuit_of(&row)?);
        }
        let with_health: Vec<Uuid> = sqlx::query_scalar(
            "SELECT subscription_id FROM subscription_health WHERE subscription_id = ANY($1)",
        )
        .bind(&subscriptions)
        .fetch_all(&mut *tx)
        .await?;
        let busy: HashSet<Uuid> = with_health
            .into_iter()
            .filter(|id| !circuits.contains_key(id))
            .collect();
        if !busy.is_empty() {
            due.retain(|d| !busy.contains(&d.subscription_id));
        }

        // A leased attempt's `due_at` is its lease end.
        let in_flight: HashMap<Uuid, Leases> = sqlx::query(
            "SELECT subscription_id, COUNT(*) AS n, MIN(due_at) AS oldest_end FROM request_attempt
             WHERE subscription_id = ANY($1) AND picked_at IS NOT NULL AND due_at IS NOT NULL AND due_at > $2
             GROUP BY subscription_id",
        )
        .bind(&subscriptions)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<Uuid, _>("subscription_id"),
                Leases {
                    count: u32::try_from(r.get::<i64, _>("n")).unwrap_or(u32::MAX),
                    oldest_end: r.get("oldest_end"),
                },
            )
        })
        .collect();

        let plan = fair_claim::plan(request, now, lease_end, &due, &in_flight, &circuits);

        if !plan.claimed.is_empty() {
            sqlx::query(
                "UPDATE request_attempt SET picked_at = $1, due_at = $2, worker_name = $3 WHERE id = ANY($4)",
            )
            .bind(now)
            .bind(lease_end)
            .bind(worker)
            .bind(&plan.claimed)
            .execute(&mut *tx)
            .await?;
        }
        for subscription_id in &plan.probes {
            let mut circuit = circuits.remove(subscription_id).unwrap_or_default();
            circuit.start_probe(now);
            health::save_circuit(&mut tx, *subscription_id, &circuit).await?;
            // The others wait for the probe's outcome (leased, the probe itself is not held).
            health::hold_pending(&mut tx, *subscription_id, lease_end, now).await?;
        }
        let mut held_ids: Vec<Uuid> = plan.held.iter().map(|(id, _)| *id).collect();
        let mut held_until: Vec<_> = plan.held.iter().map(|(_, until)| *until).collect();
        held_ids.extend(plan.parked.iter().copied());
        held_until.extend(plan.parked.iter().map(|_| lease_end));
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
        let jobs = load_jobs(&mut tx, &plan.claimed, now).await?;
        tx.commit().await?;
        Ok(jobs)
    }
}

/// Everything the worker needs to send each claimed attempt, in the given order.
async fn load_jobs(
    c: &mut sqlx::PgConnection,
    ids: &[Uuid],
    now: chrono::DateTime<Utc>,
) -> StoreResult<Vec<ClaimedJob>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count, ra.created_at,
                ra.delay_until, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
                s.target_method, s.target_url, s.target_headers, s.secret, s.standard_webhooks
         FROM request_attempt ra
         JOIN event e ON e.id = ra.event_id
         JOIN subscription s ON s.id = ra.subscription_id
         WHERE ra.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    let mut signed: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.get::<bool, _>("standard_webhooks"))
        .map(|r| r.get("subscription_id"))
        .collect();
    signed.sort();
    signed.dedup();
    let secrets = if signed.is_empty() {
        HashMap::new()
    } else {
        live_secrets(c, &signed, now).await?
    };
    let mut jobs: HashMap<Uuid, ClaimedJob> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let created_at: chrono::DateTime<Utc> = row.get("created_at");
        let delay_until: Option<chrono::DateTime<Utc>> = row.get("delay_until");
        let subscription_id: Uuid = row.get("subscription_id");
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
        };
        let standard_webhooks_secrets = if row.get::<bool, _>("standard_webhooks") {
            secrets
                .get(&subscription_id)
                .map(|s| s.iter().map(|s| s.secret.clone()).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        jobs.insert(
            job.attempt.attempt_id,
            ClaimedJob {
                job,
                standard_webhooks_secrets,
            },
        );
    }
    Ok(ids.iter().filter_map(|id| jobs.remove(id)).collect())
}
