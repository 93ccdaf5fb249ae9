//! The consumer portal on SQLite: its sessions, and the deliveries aimed at one subscription.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::Event;
use hook0_core::portal::PortalSession;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::events::insert_event;
use super::{ordering, SqliteStore};
use crate::{Portal, StoreError, StoreResult};

/// The columns [`session`] reads; the application must be live.
const SELECT_SESSION: &str = "SELECT p.* FROM portal_session p
     JOIN application a ON a.id = p.application_id AND a.deleted_at IS NULL";

type RawSession = (PortalSession, String, String, String, String);

fn session(row: &Row) -> rusqlite::Result<RawSession> {
    Ok((
        PortalSession {
            id: row.get("id")?,
            organization_id: row.get("organization_id")?,
            application_id: row.get("application_id")?,
            secret_hash: row.get("secret_hash")?,
            labels: Default::default(),
            capabilities: Vec::new(),
            allowed_origins: Vec::new(),
            theme: Default::default(),
            created_at: time(row.get("created_at")?),
            expires_at: time(row.get("expires_at")?),
            revoked_at: opt_time(row.get("revoked_at")?),
        },
        row.get("labels")?,
        row.get("capabilities")?,
        row.get("allowed_origins")?,
        row.get("theme")?,
    ))
}

fn decode((mut s, labels, capabilities, origins, theme): RawSession) -> StoreResult<PortalSession> {
    s.labels = from_json(&labels)?;
    s.capabilities = from_json(&capabilities)?;
    s.allowed_origins = from_json(&origins)?;
    s.theme = from_json(&theme)?;
    Ok(s)
}

fn one(
    c: &Connection,
    filter: &str,
    key: impl rusqlite::ToSql,
) -> StoreResult<Option<PortalSession>> {
    c.prepare_cached(&format!("{SELECT_SESSION} WHERE {filter}"))?
        .query_row([key], session)
        .optional()?
        .map(decode)
        .transpose()
}

/// Whether `subscription_id` is an enabled, live subscription of the application.
fn enabled(c: &Connection, application_id: Uuid, subscription_id: Uuid) -> StoreResult<bool> {
    Ok(c.prepare_cached(
        "SELECT 1 FROM subscription
         WHERE id = ? AND application_id = ? AND is_enabled AND deleted_at IS NULL",
    )?
    .exists(params![subscription_id, application_id])?)
}

/// Inserts a first attempt of `event_id` for `subscription_id` when that is an enabled, live
/// subscription of the application; its id.
fn queue_one(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<Uuid>> {
    if !enabled(c, application_id, subscription_id)? {
        return Ok(None);
    }
    Ok(Some(insert_attempt(
        c,
        application_id,
        event_id,
        subscription_id,
        now,
    )?))
}

/// Inserts a first attempt (retry count 0, due `now`, or at the end of its key's line when the
/// subscription orders deliveries); its id.
fn insert_attempt(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    ordering::queue_first(c, application_id, event_id, subscription_id, micros(now))
}

#[async_trait]
impl Portal for SqliteStore {
    async fn create_portal_session(&self, s: &PortalSession) -> StoreResult<()> {
        let s = s.clone();
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO portal_session (id, organization_id, application_id, secret_hash, labels,
                         capabilities, allowed_origins, theme, created_at, expires_at, revoked_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                )?
                .execute(params![
                    s.id,
                    s.organization_id,
                    s.application_id,
                    s.secret_hash,
                    to_json(&s.labels),
                    to_json(&s.capabilities),
                    to_json(&s.allowed_origins),
                    to_json(&s.theme),
                    micros(s.created_at),
                    micros(s.expires_at),
                ])?;
                Ok(())
            })
            .await
    }

    async fn portal_session_by_secret(
        &self,
        secret_hash: &[u8],
    ) -> StoreResult<Option<PortalSession>> {
        let hash = secret_hash.to_vec();
        self.db
            .read(move |c| one(c, "p.secret_hash = ?", hash))
            .await
    }

    async fn get_portal_session(&self, id: Uuid) -> StoreResult<Option<PortalSession>> {
        self.db.read(move |c| one(c, "p.id = ?", id)).await
    }

    async fn list_portal_sessions(
        &self,
        application_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<PortalSession>> {
        self.db
            .read(move |c| {
                let mut query = c.prepare_cached(&format!(
                    "{SELECT_SESSION} WHERE p.application_id = ? AND p.expires_at > ?
                         AND p.revoked_at IS NULL
                     ORDER BY p.created_at DESC, p.id"
                ))?;
                let rows = query.query_map(params![application_id, micros(now)], session)?;
                rows.map(|r| decode(r?)).collect()
            })
            .await
    }

    async fn revoke_portal_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let changed = c
                    .prepare_cached(
                        "UPDATE portal_session SET revoked_at = ?
                         WHERE id = ? AND revoked_at IS NULL AND expires_at > ?",
                    )?
                    .execute(params![micros(at), id, micros(at)])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn purge_portal_sessions(
        &self,
        ended_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| {
                let deleted = c
                    .prepare_cached(
                        "DELETE FROM portal_session WHERE id IN
                           (SELECT id FROM portal_session
                            WHERE expires_at < ?1 OR revoked_at < ?1 LIMIT ?2)",
                    )?
                    .execute(params![micros(ended_before), batch])?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn ingest_test_event(
        &self,
        event: &Event,
        subscription_id: Uuid,
    ) -> StoreResult<Option<Uuid>> {
        let event = event.clone();
        let queued = self
            .db
            .write(move |c| {
                let known = c
                    .prepare_cached(
                        "SELECT 1 FROM event_type WHERE application_id = ? AND name = ?",
                    )?
                    .exists(params![event.application_id, event.event_type_name])?;
                if !known {
                    return Err(StoreError::EventTypeDoesNotExist(
                        event.event_type_name.clone(),
                    ));
                }
                // Checked first, so a refused test leaves no event behind.
                if !enabled(c, event.application_id, subscription_id)? {
                    return Ok(None);
                }
                insert_event(c, &event)?;
                let attempt = insert_attempt(
                    c,
                    event.application_id,
                    event.id,
                    subscription_id,
                    event.received_at,
                )?;
                Ok(Some(attempt))
            })
            .await?;
        if queued.is_some() {
            self.signal_work();
        }
        Ok(queued)
    }

    async fn resend_event(
        &self,
        application_id: Uuid,
        event_id: Uuid,
        subscription_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let queued = self
            .db
            .write(move |c| {
                let stored = c
                    .prepare_cached("SELECT 1 FROM event WHERE application_id = ? AND id = ?")?
                    .exists(params![application_id, event_id])?;
                if !stored {
                    return Ok(None);
                }
                queue_one(c, application_id, event_id, subscription_id, now)
            })
            .await?;
        if queued.is_some() {
            self.signal_work();
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
        self.db
            .write(move |c| {
                let changed = c
                    .prepare_cached(
                        "UPDATE subscription SET secret = ?, updated_at = ?
                         WHERE id = ? AND application_id = ? AND deleted_at IS NULL",
                    )?
                    .execute(params![
                        secret,
                        micros(now),
                        subscription_id,
                        application_id
                    ])?;
                Ok(changed == 1)
            })
            .await
    }
}
