//! Stored tokens (sessions and service tokens) on PostgreSQL, found by their root revocation
//! id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::identity::{TokenKind, TokenRecord};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use crate::{StoreError, StoreResult, Tokens};

fn token(row: &PgRow) -> StoreResult<TokenRecord> {
    let kind: String = row.get("kind");
    Ok(TokenRecord {
        id: row.get("id"),
        kind: TokenKind::parse(&kind)
            .ok_or_else(|| StoreError::Database(format!("unknown token kind {kind:?}")))?,
        user_id: row.get("user_id"),
        organization_id: row.get("organization_id"),
        session_id: row.get("session_id"),
        name: row.get("name"),
        biscuit: row.get("biscuit"),
        revocation_id: row.get("revocation_id"),
        created_at: row.get("created_at"),
        expired_at: row.get("expired_at"),
    })
}

async fn insert_tokens(c: &mut PgConnection, tokens: &[TokenRecord]) -> StoreResult<()> {
    for t in tokens {
        sqlx::query(
            "INSERT INTO token (id, kind, user_id, organization_id, session_id, name, biscuit, revocation_id, created_at, expired_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(t.id)
        .bind(t.kind.as_str())
        .bind(t.user_id)
        .bind(t.organization_id)
        .bind(t.session_id)
        .bind(&t.name)
        .bind(&t.biscuit)
        .bind(&t.revocation_id)
        .bind(t.created_at)
        .bind(t.expired_at)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Tokens for PostgresStore {
    async fn purge_expired_tokens(
        &self,
        expired_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM token WHERE id IN
               (SELECT id FROM token WHERE expired_at < $1 LIMIT $2)",
        )
        .bind(expired_before)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
    async fn count_expired_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM token WHERE expired_at < $1")
            .bind(expired_before)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_tokens(&mut tx, tokens).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn live_token(
        &self,
        revocation_id: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT * FROM token WHERE revocation_id = $1 AND (expired_at IS NULL OR expired_at > $2)",
        )
        .bind(revocation_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token).transpose()
    }
    async fn rotate_token(
        &self,
        old_id: Uuid,
        new: &[TokenRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The row lock makes a second refresh with the same token wait, then find it spent.
        let expired = sqlx::query(
            "UPDATE token SET expired_at = $1 WHERE id = $2 AND (expired_at IS NULL OR expired_at > $1)",
        )
        .bind(now)
        .bind(old_id)
        .execute(&mut *tx)
        .await?;
        if expired.rows_affected() == 0 {
            return Ok(false);
        }
        insert_tokens(&mut tx, new).await?;
        tx.commit().await?;
        Ok(true)
    }
    async fn expire_session(&self, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE token SET expired_at = $1 WHERE session_id = $2 AND (expired_at IS NULL OR expired_at > $1)",
        )
        .bind(at)
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
    async fn expire_user_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE token SET expired_at = $1
             WHERE user_id = $2 AND session_id IS NOT NULL AND (expired_at IS NULL OR expired_at > $1)",
        )
        .bind(at)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
    async fn expire_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE token SET expired_at = $1
             WHERE user_id = $2 AND session_id IS NOT NULL AND session_id <> $3
               AND (expired_at IS NULL OR expired_at > $1)",
        )
        .bind(at)
        .bind(user_id)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
    async fn list_service_tokens(
        &self,
        organization_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM token WHERE organization_id = $1 AND kind = 'service_access'
               AND (expired_at IS NULL OR expired_at > $2)
             ORDER BY created_at, id",
        )
        .bind(organization_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token).collect()
    }
    async fn get_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT * FROM token WHERE id = $1 AND organization_id = $2 AND kind = 'service_access'
               AND (expired_at IS NULL OR expired_at > $3)",
        )
        .bind(token_id)
        .bind(organization_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token).transpose()
    }
    async fn rename_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(
            "UPDATE token SET name = $1 WHERE id = $2 AND organization_id = $3 AND kind = 'service_access'
               AND (expired_at IS NULL OR expired_at > $4)
             RETURNING *",
        )
        .bind(name)
        .bind(token_id)
        .bind(organization_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token).transpose()
    }
    async fn expire_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE token SET expired_at = $1 WHERE id = $2 AND organization_id = $3 AND kind = 'service_access'
               AND (expired_at IS NULL OR expired_at > $1)",
        )
        .bind(at)
        .bind(token_id)
        .bind(organization_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
