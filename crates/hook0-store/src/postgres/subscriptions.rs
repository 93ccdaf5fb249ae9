//! Subscriptions on PostgreSQL. Disabling or deleting a subscription fails its pending attempts
//! in the same transaction. The subscription row stays locked until the commit, and writers that
//! add attempts for a subscription (ingest, replay, retries) share-lock it, so no attempt for it
//! can slip in between and stay pending.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::*;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::convert::*;
use super::PostgresStore;
use crate::{ordering, StoreError, StoreResult, Subscriptions};

/// The join condition on `s` of the subscriptions an event is delivered to: of its
/// `application`, enabled, not deleted, its type listed, its labels ⊇ theirs. `event` names a
/// row with the event's `event_type_name` and `labels`. Ingest, replay and the hand-off's plan
/// must match alike.
pub(super) fn delivered_to(application: &str, event: &str) -> String {
    format!(
        "s.application_id = {application} AND s.is_enabled AND s.deleted_at IS NULL
         AND s.event_types ? {event}.event_type_name AND {event}.labels @> s.labels"
    )
}

pub(super) fn subscription(row: &PgRow) -> StoreResult<Subscription> {
    Ok(Subscription {
        id: row.get("id"),
        application_id: row.get("application_id"),
        is_enabled: row.get("is_enabled"),
        event_types: json(row, "event_types")?,
        description: row.get("description"),
        secret: row.get("secret"),
        metadata: json(row, "metadata")?,
        labels: json(row, "labels")?,
        target: HttpTarget {
            method: row.get("target_method"),
            url: row.get("target_url"),
            headers: json(row, "target_headers")?,
        },
        dedicated_workers: json(row, "dedicated_workers")?,
        ordering: ordering::from_columns(
            row.get("ordering_label"),
            row.get::<&str, _>("ordering_on_dead_letter"),
        ),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

async fn check_event_types(conn: &mut PgConnection, sub: &Subscription) -> StoreResult<()> {
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM event_type WHERE application_id = $1 AND name = ANY($2)",
    )
    .bind(sub.application_id)
    .bind(&sub.event_types)
    .fetch_all(conn)
    .await?;
    match sub.event_types.iter().find(|name| !known.contains(name)) {
        Some(unknown) => Err(StoreError::EventTypeDoesNotExist(unknown.clone())),
        None => Ok(()),
    }
}

/// Fails the subscription's pending attempts, locking them in id order like every other writer,
/// and those waiting in its keys' lines.
async fn fail_pending(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE request_attempt SET failed_at = $1, due_at = NULL
         WHERE due_at IS NOT NULL AND id IN (
             SELECT id FROM request_attempt WHERE subscription_id = $2 AND due_at IS NOT NULL
             ORDER BY id FOR UPDATE)",
    )
    .bind(now)
    .bind(subscription_id)
    .execute(&mut *conn)
    .await?;
    super::ordering::fail_waiting(conn, subscription_id, now, false).await
}

#[async_trait]
impl Subscriptions for PostgresStore {
    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>> {
        let rows = sqlx::query(
            "SELECT * FROM subscription WHERE application_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(application_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(subscription).collect()
    }
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>> {
        let row = sqlx::query("SELECT * FROM subscription WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(subscription).transpose()
    }
    async fn create_subscription_within(
        &self,
        sub: &Subscription,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        super::within_quota(
            &mut tx,
            hook0_core::quota::Quota::SubscriptionsPerApplication,
            sub.application_id,
            "",
            limit,
        )
        .await?;
        check_event_types(&mut tx, sub).await?;
        sqlx::query(
            "INSERT INTO subscription (id, application_id, is_enabled, event_types, description, secret, metadata,
                 labels, target_method, target_url, target_headers, dedicated_workers, created_at, updated_at,
                 ordering_label, ordering_on_dead_letter)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(sub.id)
        .bind(sub.application_id)
        .bind(sub.is_enabled)
        .bind(Json(&sub.event_types))
        .bind(&sub.description)
        .bind(sub.secret)
        .bind(Json(&sub.metadata))
        .bind(Json(&sub.labels))
        .bind(&sub.target.method)
        .bind(&sub.target.url)
        .bind(Json(&sub.target.headers))
        .bind(Json(&sub.dedicated_workers))
        .bind(sub.created_at)
        .bind(sub.updated_at)
        .bind(ordering::columns(sub).0)
        .bind(ordering::columns(sub).1)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>> {
        let mut tx = self.pool.begin().await?;
        // Locked before the update, so its answer is the state this update changes.
        let before: Option<(bool, Option<String>, String)> = sqlx::query_as(
            "SELECT is_enabled, ordering_label, ordering_on_dead_letter FROM subscription
             WHERE id = $1 AND application_id = $2 AND deleted_at IS NULL
             FOR NO KEY UPDATE",
        )
        .bind(sub.id)
        .bind(sub.application_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (was_enabled, ordered_before) = match before {
            Some((enabled, label, policy)) => {
                (Some(enabled), ordering::from_columns(label, &policy))
            }
            None => (None, None),
        };
        let row = sqlx::query(
            "UPDATE subscription SET is_enabled = $1, event_types = $2, description = $3, metadata = $4,
                 labels = $5, target_method = $6, target_url = $7, target_headers = $8,
                 dedicated_workers = $9, updated_at = $10, ordering_label = $13,
                 ordering_on_dead_letter = $14
             WHERE id = $11 AND application_id = $12 AND deleted_at IS NULL RETURNING *",
        )
        .bind(sub.is_enabled)
        .bind(Json(&sub.event_types))
        .bind(&sub.description)
        .bind(Json(&sub.metadata))
        .bind(Json(&sub.labels))
        .bind(&sub.target.method)
        .bind(&sub.target.url)
        .bind(Json(&sub.target.headers))
        .bind(Json(&sub.dedicated_workers))
        .bind(sub.updated_at)
        .bind(sub.id)
        .bind(sub.application_id)
        .bind(ordering::columns(sub).0)
        .bind(ordering::columns(sub).1)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // After the update, so that an unknown subscription is `None` whatever its event types;
        // an error here rolls the update back with the transaction.
        check_event_types(&mut tx, sub).await?;
        let updated = subscription(&row)?;
        if !updated.is_enabled {
            fail_pending(&mut tx, updated.id, self.clock.now()).await?;
        } else if was_enabled == Some(false) {
            // Enabled again (e.g. after an auto-disable, once the endpoint is fixed): the circuit
            // and the failure history start afresh.
            super::circuits::reset(&mut tx, updated.id).await?;
        }
        let now = self.clock.now();
        match ordering::change(ordered_before.as_ref(), updated.ordering.as_ref()) {
            ordering::Change::None => {}
            ordering::Change::Release => {
                super::ordering::release_all(&mut tx, updated.id, now).await?
            }
            ordering::Change::ContinueHeld => {
                super::ordering::continue_held(&mut tx, updated.id, now).await?
            }
        }
        tx.commit().await?;
        Ok(Some(updated))
    }
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE subscription SET deleted_at = $1
             WHERE id = $2 AND application_id = $3 AND deleted_at IS NULL",
        )
        .bind(self.clock.now())
        .bind(id)
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        fail_pending(&mut tx, id, self.clock.now()).await?;
        tx.commit().await?;
        Ok(true)
    }
}
