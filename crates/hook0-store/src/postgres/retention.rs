//! Retention on PostgreSQL: expired events go with their attempts and responses, a batch at a
//! time, in one statement; an event still to be delivered (pending, or waiting in a key's
//! line) or holding a key stays.

use async_trait::async_trait;

use super::PostgresStore;
use crate::{Retention, StoreResult};

#[async_trait]
impl Retention for PostgresStore {
    async fn purge_expired_events(
        &self,
        default_retention_days: u32,
        batch: u32,
    ) -> StoreResult<u64> {
        let deleted: i64 = sqlx::query_scalar(
            "WITH doomed AS (
                 SELECT a.id AS application_id, e.id FROM application a
                 CROSS JOIN LATERAL (
                     SELECT e.id FROM event e
                     WHERE e.application_id = a.id
                       AND e.received_at < $3 - make_interval(days => COALESCE(a.retention_days, $1))
                       AND NOT EXISTS (SELECT 1 FROM request_attempt ra
                                       WHERE ra.application_id = e.application_id
                                         AND ra.event_id = e.id
                                         AND ((ra.succeeded_at IS NULL AND ra.failed_at IS NULL)
                                              OR EXISTS (SELECT 1 FROM ordering_key k
                                                         WHERE k.held_by = ra.id)))
                     ORDER BY e.received_at LIMIT $2) e
                 LIMIT $2),
             gone_attempts AS (
                 DELETE FROM request_attempt ra USING doomed d
                 WHERE ra.application_id = d.application_id AND ra.event_id = d.id
                 RETURNING ra.response_id),
             gone_responses AS (
                 DELETE FROM response r USING gone_attempts g WHERE r.id = g.response_id),
             gone_events AS (
                 DELETE FROM event e USING doomed d
                 WHERE e.application_id = d.application_id AND e.id = d.id RETURNING 1)
             SELECT COUNT(*) FROM gone_events",
        )
        .bind(default_retention_days as i32)
        .bind(i64::from(batch))
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?;
        Ok(deleted as u64)
    }
}
