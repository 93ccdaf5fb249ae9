//! Dead letters on PostgreSQL: attempts that failed with no retry left carry `dead_lettered_at`;
//! redelivering one queues a fresh attempt (retry count 0) and sets `redelivered_at`, which
//! takes it out of the dead letters, so no dead letter is ever redelivered twice. Writers lock
//! the subscription row, then the dead letters by id.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::DeadLetter;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::attempts::{attempt, ATTEMPT_COLUMNS};
use super::wakeup::notify_work;
use super::{ordering, PostgresStore};
use crate::{DeadLetterFilter, DeadLetterRetry, DeadLetters, Redelivery, StoreResult};

/// Queues the redelivery of the dead letter `letter` (a first attempt of its event): at the
/// head of its key's line when it holds that key, else like any first attempt (due now, or at
/// the end of its key's line).
async fn queue_redelivery(
    c: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    letter: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    if let Some(id) = ordering::redeliver_held(c, application_id, event_id, letter, now).await? {
        return Ok(id);
    }
    ordering::queue_first(c, application_id, event_id, subscription_id, now).await
}

/// `Some(is_enabled)` for a live subscription of the application, its row locked.
async fn lock_subscription(
    c: &mut PgConnection,
    application_id: Uuid,
    subscription_id: Uuid,
) -> StoreResult<Option<bool>> {
    Ok(sqlx::query_scalar(
        "SELECT s.is_enabled FROM subscription s JOIN application a ON a.id = s.application_id
         WHERE s.id = $1 AND s.application_id = $2 AND s.deleted_at IS NULL AND a.deleted_at IS NULL
         FOR SHARE OF s",
    )
    .bind(subscription_id)
    .bind(application_id)
    .fetch_optional(&mut *c)
    .await?)
}

#[async_trait]
impl DeadLetters for PostgresStore {
    async fn list_dead_letters(&self, f: &DeadLetterFilter) -> StoreResult<Vec<DeadLetter>> {
        let columns = ATTEMPT_COLUMNS.replacen("SELECT ", "SELECT ra.dead_lettered_at, ", 1);
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(columns);
        q.push("WHERE ra.application_id = ")
            .push_bind(f.application_id)
            .push(" AND ra.dead_lettered_at IS NOT NULL AND ra.redelivered_at IS NULL");
        if let Some(id) = f.subscription_id {
            q.push(" AND ra.subscription_id = ").push_bind(id);
        }
        if let Some((at, id)) = f.before {
            q.push(" AND (ra.dead_lettered_at, ra.id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY ra.dead_lettered_at DESC, ra.id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|row| DeadLetter {
                attempt: attempt(row),
                dead_lettered_at: row.get("dead_lettered_at"),
            })
            .collect())
    }
    async fn retry_dead_letter(
        &self,
        application_id: Uuid,
        attempt_id: Uuid,
    ) -> StoreResult<DeadLetterRetry> {
        let mut tx = self.pool.begin().await?;
        let subscription_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT subscription_id FROM request_attempt WHERE application_id = $1 AND id = $2",
        )
        .bind(application_id)
        .bind(attempt_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(subscription_id) = subscription_id else {
            return Ok(DeadLetterRetry::NotFound);
        };
        let enabled = lock_subscription(&mut tx, application_id, subscription_id).await?;
        // Locked after the subscription, and read again: a concurrent retry has either marked
        // it redelivered already or waits for this one.
        let row = sqlx::query(
            "SELECT event_id, dead_lettered_at IS NOT NULL AND redelivered_at IS NULL AS dead
             FROM request_attempt WHERE id = $1 FOR UPDATE",
        )
        .bind(attempt_id)
        .fetch_one(&mut *tx)
        .await?;
        if !row.get::<bool, _>("dead") {
            return Ok(DeadLetterRetry::NotADeadLetter);
        }
        if enabled != Some(true) {
            return Ok(DeadLetterRetry::SubscriptionDisabled);
        }
        let now = self.clock.now();
        let queued = queue_redelivery(
            &mut tx,
            application_id,
            row.get("event_id"),
            subscription_id,
            attempt_id,
            now,
        )
        .await?;
        sqlx::query("UPDATE request_attempt SET redelivered_at = $1 WHERE id = $2")
            .bind(now)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        notify_work(&mut tx).await?;
        tx.commit().await?;
        self.signal_work();
        Ok(DeadLetterRetry::Queued { attempt_id: queued })
    }
    async fn redeliver_dead_letters(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Redelivery> {
        let mut tx = self.pool.begin().await?;
        match lock_subscription(&mut tx, application_id, subscription_id).await? {
            None => return Ok(Redelivery::SubscriptionNotFound),
            Some(false) => return Ok(Redelivery::SubscriptionDisabled),
            Some(true) => {}
        }
        let letters = sqlx::query(
            "SELECT id, event_id FROM request_attempt
             WHERE id IN (SELECT id FROM request_attempt
                          WHERE subscription_id = $1 AND dead_lettered_at IS NOT NULL AND redelivered_at IS NULL
                            AND ($2::timestamptz IS NULL OR dead_lettered_at >= $2)
                          ORDER BY id FOR UPDATE)
             ORDER BY dead_lettered_at, id",
        )
        .bind(subscription_id)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let now = self.clock.now();
        // One new attempt per event: an event that died twice is still delivered once more. A
        // dead letter a key waits on goes first, to the head of its line; the others then
        // join the end of theirs, oldest first.
        let mut queued = HashSet::new();
        let mut ids = Vec::with_capacity(letters.len());
        for row in &letters {
            let (event_id, letter): (Uuid, Uuid) = (row.get("event_id"), row.get("id"));
            if super::ordering::redeliver_held(&mut tx, application_id, event_id, letter, now)
                .await?
                .is_some()
            {
                queued.insert(event_id);
            }
            ids.push(letter);
        }
        for row in &letters {
            let event_id: Uuid = row.get("event_id");
            if queued.insert(event_id) {
                super::ordering::queue_first(
                    &mut tx,
                    application_id,
                    event_id,
                    subscription_id,
                    now,
                )
                .await?;
            }
        }
        sqlx::query("UPDATE request_attempt SET redelivered_at = $1 WHERE id = ANY($2)")
            .bind(now)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        if !queued.is_empty() {
            notify_work(&mut tx).await?;
        }
        tx.commit().await?;
        if !queued.is_empty() {
            self.signal_work();
        }
        Ok(Redelivery::Queued {
            count: queued.len(),
        })
    }
}
