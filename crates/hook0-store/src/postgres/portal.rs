//! The consumer portal on PostgreSQL: its sessions, and the deliveries aimed at one
//! subscription. None of this is a hot path: plain statements, a transaction where two writes
//! must land together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::Event;
use hook0_core::portal::PortalSession;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::convert::json;
use super::ordering;
use super::PostgresStore;
use crate::{Portal, StoreError, StoreResult};

/// Sessions whose application is live.
const SELECT_SESSION: &str = "SELECT p.* FROM portal_session p
     JOIN application a ON a.id = p.application_id AND a.deleted_at IS NULL";

fn session(row: &PgRow) -> StoreResult<PortalSession> {
    Ok(PortalSession {
        id: row.get("id"),
        organization_id: row.get("organization_id"),
        application_id: row.get("application_id"),
        secret_hash: row.get("secret_hash"),
        labels: json(row, "labels")?,
        capabilities: json(row, "capabilities")?,
        allowed_origins: json(row, "allowed_origins")?,
        theme: json(row, "theme")?,
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    })
}

/// Queues a first attempt of a stored event for one enabled subscription of its application
/// (the subscription row is share-locked, so a concurrent disable waits or is seen), due now or
/// at the end of its key's line when the subscription orders deliveries.
async fn queue_one(
    tx: &mut PgConnection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<Uuid>> {
    let enabled: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM subscription
         WHERE id = $1 AND application_id = $2 AND is_enabled AND deleted_at IS NULL
         FOR SHARE",
    )
    .bind(subscription_id)
    .bind(application_id)
    .fetch_optional(&mut *tx)
    .await?;
    if enabled.is_none() {
        return Ok(None);
    }
    let id = ordering::queue_first(tx, application_id, event_id, subscription_id, now).await?;
    Ok(Some(id))
}

#[async_trait]
impl Portal for PostgresStore {
    async fn create_portal_session(&self, s: &PortalSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO portal_session (id, organization_id, application_id, secret_hash, labels,
                 capabilities, allowed_origins, theme, created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
        )
        .bind(s.id)
        .bind(s.organization_id)
        .bind(s.application_id)
        .bind(&s.secret_hash)
        .bind(Json(&s.labels))
        .bind(Json(&s.capabilities))
        .bind(Json(&s.allowed_origins))
        .bind(Json(&s.theme))
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn portal_session_by_secret(
        &self,
        secret_hash: &[u8],
    ) -> StoreResult<Option<PortalSession>> {
        let row = sqlx::query(&format!("{SELECT_SESSION} WHERE p.secret_hash = $1"))
            .bind(secret_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn get_portal_session(&self, id: Uuid) -> StoreResult<Option<PortalSession>> {
        let row = sqlx::query(&format!("{SELECT_SESSION} WHERE p.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn list_portal_sessions(
        &self,
        application_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<PortalSession>> {
        let rows = sqlx::query(&format!(
            "{SELECT_SESSION} WHERE p.application_id = $1 AND p.expires_at > $2
                 AND p.revoked_at IS NULL
             ORDER BY p.created_at DESC, p.id"
        ))
        .bind(application_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session).collect()
    }

    async fn revoke_portal_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let revoked = sqlx::query(
            "UPDATE portal_session SET revoked_at = $2
             WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(revoked.rows_affected() == 1)
    }

    async fn purge_portal_sessions(
        &self,
        ended_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM portal_session WHERE id IN
               (SELECT id FROM portal_session WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)",
        )
        .bind(ended_before)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn ingest_test_event(
        &self,
        e: &Event,
        subscription_id: Uuid,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.pool.begin().await?;
        let typed = sqlx::query("SELECT 1 FROM event_type WHERE application_id = $1 AND name = $2")
            .bind(e.application_id)
            .bind(&e.event_type_name)
            .fetch_optional(&mut *tx)
            .await?;
        if typed.is_none() {
            return Err(StoreError::EventTypeDoesNotExist(e.event_type_name.clone()));
        }
        let inserted = sqlx::query(
            "INSERT INTO event (id, application_id, event_type_name, payload, payload_content_type, ip,
                 metadata, labels, occurred_at, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (application_id, id) DO NOTHING",
        )
        .bind(e.id)
        .bind(e.application_id)
        .bind(&e.event_type_name)
        .bind(&e.payload)
        .bind(e.payload_content_type.as_str())
        .bind(&e.ip)
        .bind(Json(&e.metadata))
        .bind(Json(&e.labels))
        .bind(e.occurred_at)
        .bind(e.received_at)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::EventAlreadyIngested);
        }
        let queued = queue_one(
            &mut tx,
            e.application_id,
            e.id,
            subscription_id,
            e.received_at,
        )
        .await?;
        if queued.is_none() {
            // Dropping the transaction rolls the event back: a refused test leaves nothing.
            return Ok(None);
        }
        tx.commit().await?;
        self.wakeups.announce();
        Ok(queued)
    }

    async fn resend_event(
        &self,
        application_id: Uuid,
        event_id: Uuid,
        subscription_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.pool.begin().await?;
        let stored = sqlx::query("SELECT 1 FROM event WHERE application_id = $1 AND id = $2")
            .bind(application_id)
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await?;
        if stored.is_none() {
            return Ok(None);
        }
        let queued = queue_one(&mut tx, application_id, event_id, subscription_id, now).await?;
        tx.commit().await?;
        if queued.is_some() {
            self.wakeups.announce();
        }
        Ok(queued)
    }

    async fn set_subscription_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        secret: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(
            "UPDATE subscription SET secret = $1, updated_at = $2
             WHERE id = $3 AND application_id = $4 AND deleted_at IS NULL",
        )
        .bind(secret)
        .bind(now)
        .bind(subscription_id)
        .bind(application_id)
        .execute(&self.pool)
        .await?;
        Ok(changed.rows_affected() == 1)
    }
}
