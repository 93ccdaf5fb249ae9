//! Standard Webhooks signing on PostgreSQL: the opt-in flag of a subscription and its secrets. A
//! rotation adds a secret and gives the live ones an expiry, so both sign during the overlap.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use hook0_core::model::SigningSecret;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::circuits::{circuit_of, HEALTH_COLUMNS};
use super::PostgresStore;
use crate::{Signing, StoreResult, SubscriptionProtection};

/// The secrets of each listed subscription that sign at `now`, newest first.
pub(super) async fn live_secrets(
    c: &mut PgConnection,
    subscription_ids: &[Uuid],
    now: DateTime<Utc>,
) -> StoreResult<HashMap<Uuid, Vec<SigningSecret>>> {
    let rows = sqlx::query(
        "SELECT subscription_id, secret, created_at, expires_at FROM standard_webhooks_secret
         WHERE subscription_id = ANY($1) AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY created_at DESC, id DESC",
    )
    .bind(subscription_ids)
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    let mut secrets: HashMap<Uuid, Vec<SigningSecret>> = HashMap::new();
    for row in rows {
        secrets
            .entry(row.get("subscription_id"))
            .or_default()
            .push(SigningSecret {
                secret: row.get("secret"),
                created_at: row.get("created_at"),
                expires_at: row.get("expires_at"),
            });
    }
    Ok(secrets)
}

/// The live Standard Webhooks secrets (`whsec_…`, newest first) of each listed subscription
/// at `now`, for the jobs that sign with them; no query when none is listed.
pub(super) async fn job_secrets(
    c: &mut PgConnection,
    subscription_ids: impl IntoIterator<Item = Uuid>,
    now: DateTime<Utc>,
) -> StoreResult<HashMap<Uuid, Vec<String>>> {
    let mut signed: Vec<Uuid> = subscription_ids.into_iter().collect();
    signed.sort();
    signed.dedup();
    if signed.is_empty() {
        return Ok(HashMap::new());
    }
    let live = live_secrets(c, &signed, now).await?;
    Ok(live
        .into_iter()
        .map(|(id, secrets)| (id, secrets.into_iter().map(|s| s.secret).collect()))
        .collect())
}

async fn insert_secret(
    c: &mut PgConnection,
    subscription_id: Uuid,
    secret: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO standard_webhooks_secret (id, subscription_id, secret, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::now_v7())
    .bind(subscription_id)
    .bind(secret)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

#[async_trait]
impl Signing for PostgresStore {
    /// Circuit and signing of each subscription listed (unknown ones are left out).
    async fn subscription_protection(
        &self,
        subscription_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, SubscriptionProtection>> {
        let mut c = self.pool.acquire().await?;
        let flags =
            sqlx::query("SELECT id, standard_webhooks FROM subscription WHERE id = ANY($1)")
                .bind(subscription_ids)
                .fetch_all(&mut *c)
                .await?;
        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM subscription_health WHERE subscription_id = ANY($1)"
        );
        let mut circuits = HashMap::new();
        for row in sqlx::query(&sql)
            .bind(subscription_ids)
            .fetch_all(&mut *c)
            .await?
        {
            circuits.insert(row.get::<Uuid, _>("subscription_id"), circuit_of(&row)?);
        }
        let mut secrets = live_secrets(&mut c, subscription_ids, self.clock.now()).await?;
        Ok(flags
            .iter()
            .map(|row| {
                let id: Uuid = row.get("id");
                (
                    id,
                    SubscriptionProtection {
                        circuit: circuits.remove(&id).unwrap_or_default(),
                        standard_webhooks: row.get("standard_webhooks"),
                        standard_webhooks_secrets: secrets.remove(&id).unwrap_or_default(),
                    },
                )
            })
            .collect())
    }
    async fn set_standard_webhooks(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        enabled: bool,
        first_secret: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The subscription's row lock serializes concurrent opt-ins: one first secret only.
        let updated = sqlx::query(
            "UPDATE subscription SET standard_webhooks = $1
             WHERE id = $2 AND application_id = $3 AND deleted_at IS NULL",
        )
        .bind(enabled)
        .bind(subscription_id)
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        let now = self.clock.now();
        if enabled
            && live_secrets(&mut tx, &[subscription_id], now)
                .await?
                .is_empty()
        {
            insert_secret(&mut tx, subscription_id, first_secret, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    async fn rotate_standard_webhooks_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        new_secret: &str,
        overlap: Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query(
            "SELECT 1 FROM subscription WHERE id = $1 AND application_id = $2 AND deleted_at IS NULL
             FOR NO KEY UPDATE",
        )
        .bind(subscription_id)
        .bind(application_id)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(false);
        }
        let now = self.clock.now();
        let expires_at = TimeDelta::from_std(overlap)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        sqlx::query(
            "UPDATE standard_webhooks_secret SET expires_at = $1
             WHERE subscription_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(expires_at)
        .bind(subscription_id)
        .execute(&mut *tx)
        .await?;
        insert_secret(&mut tx, subscription_id, new_secret, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
