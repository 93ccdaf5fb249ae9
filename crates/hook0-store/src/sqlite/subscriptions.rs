//! Subscriptions on SQLite. Disabling or deleting a subscription fails its pending attempts in
//! the same transaction, so no worker picks them afterwards.

use hook0_core::model::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{StoreError, StoreResult};

pub(super) fn subscription(row: &SqliteRow) -> StoreResult<Subscription> {
    Ok(Subscription {
        id: row.get("id"),
        application_id: row.get("application_id"),
        is_enabled: row.get("is_enabled"),
        event_types: from_json(row.get("event_types"))?,
        description: row.get("description"),
        secret: row.get("secret"),
        metadata: from_json(row.get("metadata"))?,
        labels: from_json(row.get("labels"))?,
        target: HttpTarget {
            method: row.get("target_method"),
            url: row.get("target_url"),
            headers: from_json(row.get("target_headers"))?,
        },
        dedicated_workers: from_json(row.get("dedicated_workers"))?,
        created_at: time(row.get("created_at")),
        updated_at: time(row.get("updated_at")),
    })
}

/// Live subscriptions of an application that could receive events (enabled, not deleted).
pub(super) async fn enabled_subscriptions(
    conn: &mut SqliteConnection,
    application_id: Uuid,
) -> StoreResult<Vec<Subscription>> {
    let rows = sqlx::query("SELECT * FROM subscription WHERE application_id = ? AND is_enabled = 1 AND deleted_at IS NULL")
        .bind(application_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(subscription).collect()
}

async fn check_event_types(conn: &mut SqliteConnection, sub: &Subscription) -> StoreResult<()> {
    for name in &sub.event_types {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM event_type WHERE application_id = ? AND name = ?")
                .bind(sub.application_id)
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
        if exists.is_none() {
            return Err(StoreError::EventTypeDoesNotExist(name.clone()));
        }
    }
    Ok(())
}

async fn fail_pending(conn: &mut SqliteConnection, subscription_id: Uuid) -> StoreResult<()> {
    sqlx::query("UPDATE request_attempt SET failed_at = ?, due_at = NULL WHERE subscription_id = ? AND due_at IS NOT NULL")
        .bind(micros(now()))
        .bind(subscription_id)
        .execute(conn)
        .await?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn list_subscriptions_impl(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<Subscription>> {
        let rows = sqlx::query(
            "SELECT * FROM subscription WHERE application_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(application_id)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(subscription).collect()
    }

    pub(super) async fn get_subscription_impl(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<Subscription>> {
        let row = sqlx::query("SELECT * FROM subscription WHERE id = ? AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(subscription).transpose()
    }

    pub(super) async fn create_subscription_impl(&self, sub: &Subscription) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        check_event_types(&mut tx, sub).await?;
        sqlx::query(
            "INSERT INTO subscription (id, application_id, is_enabled, event_types, description, secret, metadata,
                 labels, target_method, target_url, target_headers, dedicated_workers, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sub.id)
        .bind(sub.application_id)
        .bind(sub.is_enabled)
        .bind(to_json(&sub.event_types))
        .bind(&sub.description)
        .bind(sub.secret)
        .bind(to_json(&sub.metadata))
        .bind(to_json(&sub.labels))
        .bind(&sub.target.method)
        .bind(&sub.target.url)
        .bind(to_json(&sub.target.headers))
        .bind(to_json(&sub.dedicated_workers))
        .bind(micros(sub.created_at))
        .bind(micros(sub.updated_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn update_subscription_impl(
        &self,
        sub: &Subscription,
    ) -> StoreResult<Option<Subscription>> {
        let mut tx = self.writer.begin().await?;
        check_event_types(&mut tx, sub).await?;
        let row = sqlx::query(
            "UPDATE subscription SET is_enabled = ?, event_types = ?, description = ?, metadata = ?, labels = ?,
                 target_method = ?, target_url = ?, target_headers = ?, dedicated_workers = ?, updated_at = ?
             WHERE id = ? AND application_id = ? AND deleted_at IS NULL RETURNING *",
        )
        .bind(sub.is_enabled)
        .bind(to_json(&sub.event_types))
        .bind(&sub.description)
        .bind(to_json(&sub.metadata))
        .bind(to_json(&sub.labels))
        .bind(&sub.target.method)
        .bind(&sub.target.url)
        .bind(to_json(&sub.target.headers))
        .bind(to_json(&sub.dedicated_workers))
        .bind(micros(sub.updated_at))
        .bind(sub.id)
        .bind(sub.application_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let updated = subscription(&row)?;
        if !updated.is_enabled {
            fail_pending(&mut tx, updated.id).await?;
        }
        tx.commit().await?;
        Ok(Some(updated))
    }

    pub(super) async fn delete_subscription_impl(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE subscription SET deleted_at = ? WHERE id = ? AND application_id = ? AND deleted_at IS NULL",
        )
        .bind(micros(now()))
        .bind(id)
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        fail_pending(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }
}
