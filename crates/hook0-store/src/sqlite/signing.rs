//! Standard Webhooks signing on SQLite: the opt-in flag of a subscription and its secrets. A
//! rotation adds a secret and gives the live ones an expiry, so both sign during the overlap.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::SigningSecret;
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{Signing, StoreResult, SubscriptionProtection};

/// The secrets that sign at `now`, newest first.
pub fn live_secrets(
    c: &Connection,
    subscription_id: Uuid,
    now: i64,
) -> StoreResult<Vec<SigningSecret>> {
    let secrets = c
        .prepare_cached(
            "SELECT secret, created_at, expires_at FROM standard_webhooks_secret
             WHERE subscription_id = ? AND (expires_at IS NULL OR expires_at > ?)
             ORDER BY created_at DESC, id DESC",
        )?
        .query_map(params![subscription_id, now], |r| {
            Ok(SigningSecret {
                secret: r.get(0)?,
                created_at: time(r.get(1)?),
                expires_at: opt_time(r.get(2)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(secrets)
}

fn insert_secret(c: &Connection, subscription_id: Uuid, secret: &str, now: i64) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO standard_webhooks_secret (id, subscription_id, secret, created_at) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![Uuid::now_v7(), subscription_id, secret, now])?;
    Ok(())
}

fn subscription_exists(
    c: &Connection,
    application_id: Uuid,
    subscription_id: Uuid,
) -> StoreResult<bool> {
    Ok(c.prepare_cached(
        "SELECT 1 FROM subscription WHERE id = ? AND application_id = ? AND deleted_at IS NULL",
    )?
    .exists(params![subscription_id, application_id])?)
}

pub fn set_standard_webhooks(
    c: &Connection,
    application_id: Uuid,
    subscription_id: Uuid,
    enabled: bool,
    first_secret: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let updated = c
        .prepare_cached(
            "UPDATE subscription SET standard_webhooks = ? WHERE id = ? AND application_id = ? AND deleted_at IS NULL",
        )?
        .execute(params![enabled, subscription_id, application_id])?;
    if updated == 0 {
        return Ok(false);
    }
    let now = micros(now);
    if enabled && live_secrets(c, subscription_id, now)?.is_empty() {
        insert_secret(c, subscription_id, first_secret, now)?;
    }
    Ok(true)
}

pub fn rotate_secret(
    c: &Connection,
    application_id: Uuid,
    subscription_id: Uuid,
    new_secret: &str,
    overlap: Duration,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    if !subscription_exists(c, application_id, subscription_id)? {
        return Ok(false);
    }
    let now = micros(now);
    let expires_at = now.saturating_add(i64::try_from(overlap.as_micros()).unwrap_or(i64::MAX));
    c.prepare_cached(
        "UPDATE standard_webhooks_secret SET expires_at = ?1
         WHERE subscription_id = ?2 AND (expires_at IS NULL OR expires_at > ?1)",
    )?
    .execute(params![expires_at, subscription_id])?;
    insert_secret(c, subscription_id, new_secret, now)?;
    Ok(true)
}

/// Circuit and signing of each subscription listed (unknown ones are left out).
pub fn protection(
    c: &Connection,
    subscription_ids: &[Uuid],
    now: DateTime<Utc>,
) -> StoreResult<Vec<(Uuid, SubscriptionProtection)>> {
    let now = micros(now);
    let mut flag = c.prepare_cached("SELECT standard_webhooks FROM subscription WHERE id = ?")?;
    let mut found = Vec::with_capacity(subscription_ids.len());
    for &id in subscription_ids {
        let Some(standard_webhooks) = flag
            .query_map([id], |r| r.get::<_, bool>(0))?
            .next()
            .transpose()?
        else {
            continue;
        };
        found.push((
            id,
            SubscriptionProtection {
                circuit: super::circuits::circuit(c, id)?,
                standard_webhooks,
                standard_webhooks_secrets: live_secrets(c, id, now)?,
            },
        ));
    }
    Ok(found)
}

#[async_trait]
impl Signing for SqliteStore {
    async fn subscription_protection(
        &self,
        subscription_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, SubscriptionProtection>> {
        let now = self.clock.now();
        let ids = subscription_ids.to_vec();
        let found = self.db.read(move |c| protection(c, &ids, now)).await?;
        Ok(found.into_iter().collect())
    }
    async fn set_standard_webhooks(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        enabled: bool,
        first_secret: &str,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let secret = first_secret.to_owned();
        self.db
            .write(move |c| {
                set_standard_webhooks(c, application_id, subscription_id, enabled, &secret, now)
            })
            .await
    }
    async fn rotate_standard_webhooks_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        new_secret: &str,
        overlap: Duration,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let secret = new_secret.to_owned();
        self.db
            .write(move |c| {
                rotate_secret(c, application_id, subscription_id, &secret, overlap, now)
            })
            .await
    }
}
