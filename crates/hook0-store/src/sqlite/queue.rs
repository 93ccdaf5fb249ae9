//! The delivery queue on SQLite. A pending attempt has a `due_at`; claiming moves `due_at` to
//! the end of the lease, so an attempt whose worker died becomes due again by itself. Finishing
//! clears `due_at`, which takes the row out of the partial index the claim scans.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hook0_core::delivery::{AttemptRef, DeliveryJob, DeliveryOutcome};
use hook0_core::model::{HttpTarget, PayloadContentType};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{StoreError, StoreResult};

impl SqliteStore {
    pub(super) async fn claim_due_attempts_impl(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let now = micros(now());
        let lease_end = now + lease.as_micros() as i64;
        let mut tx = self.writer.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE request_attempt SET picked_at = ?1, due_at = ?2, worker_name = ?3
             WHERE id IN (SELECT id FROM request_attempt WHERE due_at IS NOT NULL AND due_at <= ?1
                          ORDER BY due_at LIMIT ?4)
             RETURNING id",
        )
        .bind(now)
        .bind(lease_end)
        .bind(worker)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count, ra.created_at,
                    ra.delay_until, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
                    s.target_method, s.target_url, s.target_headers, s.secret
             FROM request_attempt ra
             JOIN event e ON e.id = ra.event_id
             JOIN subscription s ON s.id = ra.subscription_id
             WHERE ra.id IN (",
        );
        let mut list = query.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        query.push(")");
        let rows = query.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let created_at = time(row.get("created_at"));
                let due_at =
                    opt_time(row.get("delay_until")).map_or(created_at, |d| d.max(created_at));
                let content_type: String = row.get("payload_content_type");
                Ok(DeliveryJob {
                    attempt: AttemptRef {
                        attempt_id: row.get("id"),
                        application_id: row.get("application_id"),
                        event_id: row.get("event_id"),
                        subscription_id: row.get("subscription_id"),
                        retry_count: row.get("retry_count"),
                    },
                    due_at,
                    event_received_at: time(row.get("received_at")),
                    event_type_name: row.get("event_type_name"),
                    payload: row.get("payload"),
                    payload_content_type: PayloadContentType::parse(&content_type).ok_or_else(
                        || StoreError::Database(format!("unknown content type {content_type}")),
                    )?,
                    target: HttpTarget {
                        method: row.get("target_method"),
                        url: row.get("target_url"),
                        headers: from_json(row.get("target_headers"))?,
                    },
                    secret: row.get("secret"),
                })
            })
            .collect()
    }

    pub(super) async fn record_outcomes_impl(
        &self,
        outcomes: &[DeliveryOutcome],
    ) -> StoreResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut retried = false;
        let mut tx = self.writer.begin().await?;
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
            let finished = sqlx::query(
                "UPDATE request_attempt SET succeeded_at = ?, failed_at = ?, response_id = ?, due_at = NULL
                 WHERE id = ? AND succeeded_at IS NULL AND failed_at IS NULL",
            )
            .bind(succeeded_at)
            .bind(failed_at)
            .bind(o.response.id)
            .bind(a.attempt_id)
            .execute(&mut *tx)
            .await?;
            if finished.rows_affected() == 0 {
                continue;
            }
            let r = &o.response;
            sqlx::query(
                "INSERT INTO response (id, application_id, error_name, http_code, headers, body, elapsed_time_ms, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(r.id)
            .bind(r.application_id)
            .bind(&r.error_name)
            .bind(r.http_code)
            .bind(r.headers.as_ref().map(to_json))
            .bind(&r.body)
            .bind(r.elapsed_time_ms)
            .bind(done_at)
            .execute(&mut *tx)
            .await?;
            if let Some(retry_at) = o.retry_at {
                let retry_at = micros(retry_at);
                let inserted = sqlx::query(
                    "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                         delay_until, due_at, retry_count)
                     SELECT ?, ?, ?, ?, ?, ?, ?, ?
                     WHERE EXISTS (SELECT 1 FROM subscription s JOIN application app ON app.id = s.application_id
                                   WHERE s.id = ? AND s.is_enabled = 1 AND s.deleted_at IS NULL
                                     AND app.deleted_at IS NULL)",
                )
                .bind(Uuid::now_v7())
                .bind(a.application_id)
                .bind(a.event_id)
                .bind(a.subscription_id)
                .bind(done_at)
                .bind(retry_at)
                .bind(retry_at)
                .bind(a.retry_count + 1)
                .bind(a.subscription_id)
                .execute(&mut *tx)
                .await?;
                retried |= inserted.rows_affected() > 0;
            }
        }
        tx.commit().await?;
        if retried {
            self.signal_work();
        }
        Ok(())
    }

    pub(super) async fn release_attempts_impl(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        if attempt_ids.is_empty() {
            return Ok(());
        }
        let mut query: QueryBuilder<Sqlite> =
            QueryBuilder::new("UPDATE request_attempt SET picked_at = NULL, due_at = ");
        query.push_bind(micros(now()));
        query.push(" WHERE due_at IS NOT NULL AND id IN (");
        let mut list = query.separated(", ");
        for id in attempt_ids {
            list.push_bind(*id);
        }
        query.push(")");
        query.build().execute(&self.writer).await?;
        self.signal_work();
        Ok(())
    }

    pub(super) async fn next_due_at_impl(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at) FROM request_attempt WHERE due_at IS NOT NULL")
                .fetch_one(&self.readers)
                .await?;
        Ok(opt_time(due))
    }
}
