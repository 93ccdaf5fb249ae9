//! Stored tokens (sessions and service tokens) on SQLite, found by their root revocation id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::identity::{TokenKind, TokenRecord};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{StoreResult, Tokens};

fn token(row: &Row) -> rusqlite::Result<TokenRecord> {
    let kind: String = row.get("kind")?;
    Ok(TokenRecord {
        id: row.get("id")?,
        kind: TokenKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown token kind {kind:?}").into(),
            )
        })?,
        user_id: row.get("user_id")?,
        organization_id: row.get("organization_id")?,
        session_id: row.get("session_id")?,
        name: row.get("name")?,
        biscuit: row.get("biscuit")?,
        revocation_id: row.get("revocation_id")?,
        created_at: time(row.get("created_at")?),
        expired_at: opt_time(row.get("expired_at")?),
    })
}

pub fn insert_tokens(c: &Connection, tokens: &[TokenRecord]) -> StoreResult<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO token (id, kind, user_id, organization_id, session_id, name, biscuit, revocation_id, created_at, expired_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for t in tokens {
        stmt.execute(params![
            t.id,
            t.kind.as_str(),
            t.user_id,
            t.organization_id,
            t.session_id,
            t.name,
            t.biscuit,
            t.revocation_id,
            micros(t.created_at),
            t.expired_at.map(micros)
        ])?;
    }
    Ok(())
}

pub fn live_token(
    c: &Connection,
    revocation_id: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<Option<TokenRecord>> {
    Ok(c.prepare_cached(
        "SELECT * FROM token WHERE revocation_id = ? AND (expired_at IS NULL OR expired_at > ?)",
    )?
    .query_row(params![revocation_id, micros(now)], token)
    .optional()?)
}

pub fn rotate_token(
    c: &Connection,
    old_id: Uuid,
    new: &[TokenRecord],
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let expired = c
        .prepare_cached(
            "UPDATE token SET expired_at = ?1 WHERE id = ?2 AND (expired_at IS NULL OR expired_at > ?1)",
        )?
        .execute(params![micros(now), old_id])?;
    if expired == 0 {
        return Ok(false);
    }
    insert_tokens(c, new)?;
    Ok(true)
}

pub fn expire_session(c: &Connection, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
    let changed = c
        .prepare_cached(
            "UPDATE token SET expired_at = ?1 WHERE session_id = ?2 AND (expired_at IS NULL OR expired_at > ?1)",
        )?
        .execute(params![micros(at), session_id])?;
    Ok(changed as u64)
}

pub fn expire_user_sessions(c: &Connection, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
    let changed = c
        .prepare_cached(
            "UPDATE token SET expired_at = ?1
             WHERE user_id = ?2 AND session_id IS NOT NULL AND (expired_at IS NULL OR expired_at > ?1)",
        )?
        .execute(params![micros(at), user_id])?;
    Ok(changed as u64)
}

pub fn expire_other_sessions(
    c: &Connection,
    user_id: Uuid,
    keep: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<u64> {
    let changed = c
        .prepare_cached(
            "UPDATE token SET expired_at = ?1
             WHERE user_id = ?2 AND session_id IS NOT NULL AND session_id <> ?3
               AND (expired_at IS NULL OR expired_at > ?1)",
        )?
        .execute(params![micros(at), user_id, keep])?;
    Ok(changed as u64)
}

pub fn list_service_tokens(
    c: &Connection,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Vec<TokenRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT * FROM token WHERE organization_id = ? AND kind = 'service_access'
           AND (expired_at IS NULL OR expired_at > ?)
         ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map(params![organization_id, micros(now)], token)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get_service_token(
    c: &Connection,
    organization_id: Uuid,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<TokenRecord>> {
    Ok(c.prepare_cached(
        "SELECT * FROM token WHERE id = ? AND organization_id = ? AND kind = 'service_access'
           AND (expired_at IS NULL OR expired_at > ?)",
    )?
    .query_row(params![token_id, organization_id, micros(now)], token)
    .optional()?)
}

pub fn rename_service_token(
    c: &Connection,
    organization_id: Uuid,
    token_id: Uuid,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<TokenRecord>> {
    Ok(c.prepare_cached(
        "UPDATE token SET name = ? WHERE id = ? AND organization_id = ? AND kind = 'service_access'
           AND (expired_at IS NULL OR expired_at > ?)
         RETURNING *",
    )?
    .query_row(params![name, token_id, organization_id, micros(now)], token)
    .optional()?)
}

pub fn expire_service_token(
    c: &Connection,
    organization_id: Uuid,
    token_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE token SET expired_at = ?1 WHERE id = ?2 AND organization_id = ?3 AND kind = 'service_access'
               AND (expired_at IS NULL OR expired_at > ?1)",
        )?
        .execute(params![micros(at), token_id, organization_id])?;
    Ok(changed == 1)
}

pub fn purge_expired_tokens(
    c: &Connection,
    expired_before: DateTime<Utc>,
    batch: u32,
) -> StoreResult<u64> {
    let deleted = c
        .prepare_cached(
            "DELETE FROM token WHERE id IN
               (SELECT id FROM token WHERE expired_at < ? LIMIT ?)",
        )?
        .execute(params![micros(expired_before), batch])?;
    Ok(deleted as u64)
}

pub fn count_expired_tokens(c: &Connection, expired_before: DateTime<Utc>) -> StoreResult<u64> {
    let n: i64 = c
        .prepare_cached("SELECT count(*) FROM token WHERE expired_at < ?")?
        .query_row(params![micros(expired_before)], |r| r.get(0))?;
    Ok(n as u64)
}

#[async_trait]
impl Tokens for SqliteStore {
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        let tokens = tokens.to_vec();
        self.db.write(move |c| insert_tokens(c, &tokens)).await
    }
    async fn live_token(
        &self,
        revocation_id: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let revocation_id = revocation_id.to_vec();
        self.db
            .read(move |c| live_token(c, &revocation_id, now))
            .await
    }
    async fn rotate_token(
        &self,
        old_id: Uuid,
        new: &[TokenRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let new = new.to_vec();
        self.db
            .write(move |c| rotate_token(c, old_id, &new, now))
            .await
    }
    async fn expire_session(&self, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .write(move |c| expire_session(c, session_id, at))
            .await
    }
    async fn expire_user_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .write(move |c| expire_user_sessions(c, user_id, at))
            .await
    }
    async fn expire_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| expire_other_sessions(c, user_id, keep, at))
            .await
    }
    async fn list_service_tokens(
        &self,
        organization_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>> {
        self.db
            .read(move |c| list_service_tokens(c, organization_id, now))
            .await
    }
    async fn get_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        self.db
            .read(move |c| get_service_token(c, organization_id, token_id, now))
            .await
    }
    async fn rename_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let name = name.to_owned();
        self.db
            .write(move |c| rename_service_token(c, organization_id, token_id, &name, now))
            .await
    }
    async fn expire_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.db
            .write(move |c| expire_service_token(c, organization_id, token_id, at))
            .await
    }
    async fn purge_expired_tokens(
        &self,
        expired_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| purge_expired_tokens(c, expired_before, batch))
            .await
    }
    async fn count_expired_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .read(move |c| count_expired_tokens(c, expired_before))
            .await
    }
}
