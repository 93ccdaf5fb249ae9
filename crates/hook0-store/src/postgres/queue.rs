//! The delivery queue on PostgreSQL. A pending attempt has a `due_at`; claiming moves `due_at` to
//! the end of the lease, so an attempt whose worker died becomes due again by itself. Finishing
//! clears `due_at`, which takes the row out of the partial index the claim scans.
//!
//! Claims lock their batch with `FOR UPDATE SKIP LOCKED`: concurrent claimers, in this process or
//! others, skip each other's rows instead of waiting or taking them twice, and a row another
//! claimer has just leased fails the `due_at <= now` re-check. Every other writer of attempt rows
//! locks them in id order, after any subscription rows it needs, so writers never deadlock.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hook0_core::delivery::{AttemptRef, DeliveryJob, DeliveryOutcome};
use hook0_core::model::HttpTarget;
use sqlx::types::Json;
use sqlx::Row;
use uuid::Uuid;

use super::convert::*;
use super::wakeup::notify_work;
use super::PostgresStore;
use crate::StoreResult;

/// Leases up to `$4` attempts due at `$1` to worker `$3` until `$2`, and reads their jobs.
///
/// One statement, so the locks last only as long as it does. The CTE holding the locking scan is
/// materialized: it runs exactly once, whatever plan the update gets. Public for the test that
/// checks its plan never scans finished attempts.
#[doc(hidden)]
pub const CLAIM_QUERY: &str = "
    WITH due AS MATERIALIZED (
        SELECT id FROM request_attempt
        WHERE due_at IS NOT NULL AND due_at <= $1
        ORDER BY due_at LIMIT $4
        FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE request_attempt ra SET picked_at = $1, due_at = $2, worker_name = $3
        FROM due WHERE ra.id = due.id
        RETURNING ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count,
            ra.created_at, ra.delay_until)
    SELECT c.*, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
        s.target_method, s.target_url, s.target_headers, s.secret
    FROM claimed c
    JOIN event e ON e.application_id = c.application_id AND e.id = c.event_id
    JOIN subscription s ON s.id = c.subscription_id
    ORDER BY c.id";

impl PostgresStore {
    pub(super) async fn claim_due_attempts_impl(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let now = now();
        let lease_end = now + TimeDelta::microseconds(lease.as_micros() as i64);
        let rows = sqlx::query(CLAIM_QUERY)
            .bind(now)
            .bind(lease_end)
            .bind(worker)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let created_at: DateTime<Utc> = row.get("created_at");
                let delay_until: Option<DateTime<Utc>> = row.get("delay_until");
                Ok(DeliveryJob {
                    attempt: AttemptRef {
                        attempt_id: row.get("id"),
                        application_id: row.get("application_id"),
                        event_id: row.get("event_id"),
                        subscription_id: row.get("subscription_id"),
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
                })
            })
            .collect()
    }

    /// A fixed number of statements per batch, plus one per subscription: lock the
    /// subscriptions that may get retries, finish the attempts, store their responses, mark the
    /// dead letters, release one parked attempt per finished delivery, add the retry rows.
    pub(super) async fn record_outcomes_impl(
        &self,
        outcomes: &[DeliveryOutcome],
    ) -> StoreResult<()> {
        // An attempt reported twice in one batch counts once, first report first (as on SQLite).
        let mut seen = HashSet::new();
        let outcomes: Vec<&DeliveryOutcome> = outcomes
            .iter()
            .filter(|o| seen.insert(o.attempt.attempt_id))
            .collect();
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_delivery(true).await?;

        // Subscriptions that may get a retry row are share-locked before any attempt row, so a
        // concurrent disable either sees the retry row or is seen by the retry insert.
        let mut retry_subscriptions: Vec<Uuid> = outcomes
            .iter()
            .filter(|o| o.retry_at.is_some())
            .map(|o| o.attempt.subscription_id)
            .collect();
        retry_subscriptions.sort();
        retry_subscriptions.dedup();
        if !retry_subscriptions.is_empty() {
            sqlx::query("SELECT id FROM subscription WHERE id = ANY($1) ORDER BY id FOR SHARE")
                .bind(&retry_subscriptions)
                .execute(&mut *tx)
                .await?;
        }

        // The guard makes a second report for the same attempt (lease expired and redelivered,
        // or attempt failed by a subscription change meanwhile) a no-op.
        let finished: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE request_attempt ra
             SET succeeded_at = CASE WHEN o.succeeded THEN o.done_at END,
                 failed_at = CASE WHEN o.succeeded THEN NULL ELSE o.done_at END,
                 response_id = o.response_id,
                 due_at = NULL
             FROM UNNEST($1::uuid[], $2::bool[], $3::timestamptz[], $4::uuid[])
                 AS o(id, succeeded, done_at, response_id)
             WHERE ra.id = o.id AND ra.succeeded_at IS NULL AND ra.failed_at IS NULL
               AND ra.id IN (SELECT id FROM request_attempt
                             WHERE id = ANY($1) AND succeeded_at IS NULL AND failed_at IS NULL
                             ORDER BY id FOR UPDATE)
             RETURNING ra.id",
        )
        .bind(
            outcomes
                .iter()
                .map(|o| o.attempt.attempt_id)
                .collect::<Vec<_>>(),
        )
        .bind(outcomes.iter().map(|o| o.succeeded).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.completed_at).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.response.id).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        if finished.is_empty() {
            return Ok(());
        }
        let finished: HashSet<Uuid> = finished.into_iter().collect();
        let outcomes: Vec<&DeliveryOutcome> = outcomes
            .into_iter()
            .filter(|o| finished.contains(&o.attempt.attempt_id))
            .collect();

        let responses = outcomes.iter().map(|o| &o.response);
        sqlx::query(
            "INSERT INTO response (id, application_id, error_name, http_code, headers, body, elapsed_time_ms,
                 created_at)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::jsonb[], $6::bytea[],
                 $7::int8[], $8::timestamptz[])",
        )
        .bind(responses.clone().map(|r| r.id).collect::<Vec<_>>())
        .bind(responses.clone().map(|r| r.application_id).collect::<Vec<_>>())
        .bind(responses.clone().map(|r| r.error_name.as_deref()).collect::<Vec<_>>())
        .bind(responses.clone().map(|r| r.http_code).collect::<Vec<_>>())
        .bind(responses.clone().map(|r| r.headers.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(responses.clone().map(|r| r.body.as_deref()).collect::<Vec<_>>())
        .bind(responses.map(|r| r.elapsed_time_ms).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.completed_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;

        // A failure with no retry left is a dead letter.
        let dead: Vec<(Uuid, DateTime<Utc>)> = outcomes
            .iter()
            .filter(|o| !o.succeeded && o.retry_at.is_none())
            .map(|o| (o.attempt.attempt_id, o.completed_at))
            .collect();
        if !dead.is_empty() {
            sqlx::query(
                "UPDATE request_attempt ra SET dead_lettered_at = d.at
                 FROM UNNEST($1::uuid[], $2::timestamptz[]) AS d(id, at) WHERE ra.id = d.id",
            )
            .bind(dead.iter().map(|d| d.0).collect::<Vec<_>>())
            .bind(dead.iter().map(|d| d.1).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        // Each finished delivery frees an in-flight slot: as many parked attempts go.
        let mut freed: HashMap<Uuid, usize> = HashMap::new();
        for o in &outcomes {
            *freed.entry(o.attempt.subscription_id).or_default() += 1;
        }
        let freed: Vec<(Uuid, usize)> = freed.into_iter().collect();
        super::health::release_parked(&mut tx, &freed, now()).await?;

        let retries: Vec<&DeliveryOutcome> = outcomes
            .into_iter()
            .filter(|o| o.retry_at.is_some())
            .collect();
        if !retries.is_empty() {
            let refs = retries.iter().map(|o| &o.attempt);
            sqlx::query(
                "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                     delay_until, due_at, retry_count)
                 SELECT r.id, r.application_id, r.event_id, r.subscription_id, r.created_at, r.retry_at,
                     r.retry_at, r.retry_count
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[],
                         $6::timestamptz[], $7::int4[])
                     AS r(id, application_id, event_id, subscription_id, created_at, retry_at, retry_count)
                 JOIN subscription s ON s.id = r.subscription_id
                 JOIN application app ON app.id = s.application_id
                 WHERE s.is_enabled AND s.deleted_at IS NULL AND app.deleted_at IS NULL",
            )
            .bind(refs.clone().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
            .bind(refs.clone().map(|a| a.application_id).collect::<Vec<_>>())
            .bind(refs.clone().map(|a| a.event_id).collect::<Vec<_>>())
            .bind(refs.clone().map(|a| a.subscription_id).collect::<Vec<_>>())
            .bind(retries.iter().map(|o| o.completed_at).collect::<Vec<_>>())
            .bind(retries.iter().map(|o| o.retry_at).collect::<Vec<_>>())
            .bind(refs.map(|a| a.retry_count + 1).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        // Retry rows, and parked attempts released by the freed slots, may be due.
        notify_work(&mut tx).await?;
        tx.commit().await?;
        self.signal_work();
        Ok(())
    }

    pub(super) async fn release_attempts_impl(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        if attempt_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_delivery(true).await?;
        let released = sqlx::query(
            "UPDATE request_attempt SET picked_at = NULL, due_at = $1
             WHERE due_at IS NOT NULL AND id IN (
                 SELECT id FROM request_attempt WHERE id = ANY($2) AND due_at IS NOT NULL
                 ORDER BY id FOR UPDATE)",
        )
        .bind(now())
        .bind(attempt_ids)
        .execute(&mut *tx)
        .await?;
        if released.rows_affected() > 0 {
            notify_work(&mut tx).await?;
        }
        tx.commit().await?;
        self.signal_work();
        Ok(())
    }

    pub(super) async fn next_due_at_impl(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(due_at) FROM request_attempt WHERE due_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
