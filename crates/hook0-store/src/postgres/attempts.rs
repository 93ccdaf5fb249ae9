//! Reading request attempts and responses on PostgreSQL (`GET /request_attempts`, `/responses`).

use async_trait::async_trait;
use hook0_core::model::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::convert::*;
use super::PostgresStore;
use crate::{AttemptFilter, Attempts, StoreResult};

pub(super) const ATTEMPT_COLUMNS: &str = "SELECT ra.id, ra.application_id, ra.event_id, e.event_type_name, ra.subscription_id,
        s.description, ra.created_at, ra.picked_at, ra.failed_at, ra.succeeded_at, ra.delay_until, ra.response_id,
        ra.retry_count, r.http_code, ra.ordering_key
    FROM request_attempt ra
    JOIN event e ON e.application_id = ra.application_id AND e.id = ra.event_id
    JOIN subscription s ON s.id = ra.subscription_id
    LEFT JOIN response r ON r.id = ra.response_id ";

pub(super) fn attempt(row: &PgRow) -> RequestAttempt {
    RequestAttempt {
        id: row.get("id"),
        application_id: row.get("application_id"),
        event_id: row.get("event_id"),
        event_type_name: row.get("event_type_name"),
        subscription_id: row.get("subscription_id"),
        subscription_description: row.get("description"),
        created_at: row.get("created_at"),
        picked_at: row.get("picked_at"),
        failed_at: row.get("failed_at"),
        succeeded_at: row.get("succeeded_at"),
        delay_until: row.get("delay_until"),
        response_id: row.get("response_id"),
        retry_count: row.get("retry_count"),
        http_response_status: row.get("http_code"),
        ordering_key: row.get("ordering_key"),
    }
}

#[async_trait]
impl Attempts for PostgresStore {
    async fn delivery_outcomes_per_day(
        &self,
        application_id: Uuid,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> StoreResult<Vec<crate::DailyOutcomes>> {
        let start = from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let end = (to + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        let rows = sqlx::query(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
                    COUNT(*) FILTER (WHERE succeeded_at IS NOT NULL),
                    COUNT(*) FILTER (WHERE succeeded_at IS NULL AND failed_at IS NOT NULL),
                    COUNT(*) FILTER (WHERE succeeded_at IS NULL AND failed_at IS NULL)
             FROM request_attempt
             WHERE application_id = $1 AND created_at >= $2 AND created_at < $3
             GROUP BY 1 ORDER BY 1",
        )
        .bind(application_id)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| crate::DailyOutcomes {
                date: r.get(0),
                succeeded: r.get(1),
                failed: r.get(2),
                open: r.get(3),
            })
            .collect())
    }
    async fn list_request_attempts(&self, f: &AttemptFilter) -> StoreResult<Vec<RequestAttempt>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(ATTEMPT_COLUMNS);
        q.push("WHERE ra.application_id = ")
            .push_bind(f.application_id);
        if let Some(id) = f.event_id {
            q.push(" AND ra.event_id = ").push_bind(id);
        }
        if let Some(id) = f.subscription_id {
            q.push(" AND ra.subscription_id = ").push_bind(id);
        }
        if let Some(t) = f.min_created_at {
            q.push(" AND ra.created_at >= ").push_bind(t);
        }
        if let Some(t) = f.max_created_at {
            q.push(" AND ra.created_at <= ").push_bind(t);
        }
        if let Some(names) = f.event_type_names.as_ref().filter(|n| !n.is_empty()) {
            q.push(" AND e.event_type_name = ANY(")
                .push_bind(names.clone())
                .push(")");
        }
        if !f.statuses.is_empty() {
            q.push(" AND (");
            for (i, status) in f.statuses.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                let (condition, then_now) = status.sql();
                q.push(condition);
                if then_now {
                    q.push_bind(f.now).push(")");
                }
            }
            q.push(")");
        }
        if let Some((created_at, id)) = f.before {
            q.push(" AND (ra.created_at, ra.id) < (")
                .push_bind(created_at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY ra.created_at DESC, ra.id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(attempt).collect())
    }
    async fn get_request_attempt(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<RequestAttempt>> {
        let row = sqlx::query(&format!(
            "{ATTEMPT_COLUMNS} WHERE ra.application_id = $1 AND ra.id = $2"
        ))
        .bind(application_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(attempt))
    }
    async fn get_response(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Response>> {
        let row = sqlx::query("SELECT * FROM response WHERE application_id = $1 AND id = $2")
            .bind(application_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Response {
                id: row.get("id"),
                application_id: row.get("application_id"),
                error_name: row.get("error_name"),
                http_code: row.get("http_code"),
                headers: opt_json(&row, "headers")?,
                body: row.get("body"),
                elapsed_time_ms: row.get("elapsed_time_ms"),
            })
        })
        .transpose()
    }
}
