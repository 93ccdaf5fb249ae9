//! Subscriptions on SQLite. Disabling or deleting a subscription fails its pending attempts in
//! the same transaction, so no worker picks them afterwards; enabling a disabled one resets its
//! health (circuit and failure history).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::*;
use hook0_core::quota::Quota;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{ordering, StoreError, StoreResult, Subscriptions};

/// Raw columns of a subscription row; JSON columns are decoded after the row is read.
struct RawSubscription {
    sub: Subscription,
    event_types: String,
    metadata: String,
    labels: String,
    headers: String,
    workers: String,
}

fn raw(row: &Row) -> rusqlite::Result<RawSubscription> {
    Ok(RawSubscription {
        sub: Subscription {
            id: row.get("id")?,
            application_id: row.get("application_id")?,
            is_enabled: row.get("is_enabled")?,
            event_types: Vec::new(),
            description: row.get("description")?,
            secret: row.get("secret")?,
            metadata: StringMap::new(),
            labels: StringMap::new(),
            target: HttpTarget {
                method: row.get("target_method")?,
                url: row.get("target_url")?,
                headers: StringMap::new(),
            },
            dedicated_workers: Vec::new(),
            ordering: ordering::from_columns(
                row.get("ordering_label")?,
                &row.get::<_, String>("ordering_on_dead_letter")?,
            ),
            created_at: time(row.get("created_at")?),
            updated_at: time(row.get("updated_at")?),
        },
        event_types: row.get("event_types")?,
        metadata: row.get("metadata")?,
        labels: row.get("labels")?,
        headers: row.get("target_headers")?,
        workers: row.get("dedicated_workers")?,
    })
}

fn decode(r: RawSubscription) -> StoreResult<Subscription> {
    let mut sub = r.sub;
    sub.event_types = from_json(&r.event_types)?;
    sub.metadata = from_json(&r.metadata)?;
    sub.labels = from_json(&r.labels)?;
    sub.target.headers = from_json(&r.headers)?;
    sub.dedicated_workers = from_json(&r.workers)?;
    Ok(sub)
}

fn query_subscriptions(c: &Connection, sql: &str, id: Uuid) -> StoreResult<Vec<Subscription>> {
    let mut stmt = c.prepare_cached(sql)?;
    let raws = stmt.query_map([id], raw)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(decode).collect()
}

/// Live subscriptions of an application that could receive events (enabled, not deleted).
pub fn enabled_subscriptions(
    c: &Connection,
    application_id: Uuid,
) -> StoreResult<Vec<Subscription>> {
    query_subscriptions(
        c,
        "SELECT * FROM subscription WHERE application_id = ? AND is_enabled = 1 AND deleted_at IS NULL",
        application_id,
    )
}

fn check_event_types(c: &Connection, sub: &Subscription) -> StoreResult<()> {
    let mut stmt =
        c.prepare_cached("SELECT 1 FROM event_type WHERE application_id = ? AND name = ?")?;
    for name in &sub.event_types {
        if !stmt.exists(params![sub.application_id, name])? {
            return Err(StoreError::EventTypeDoesNotExist(name.clone()));
        }
    }
    Ok(())
}

/// Fails the subscription's pending attempts, and those waiting in its keys' lines.
fn fail_pending(c: &Connection, subscription_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
    let now = micros(now);
    c.prepare_cached(
        "UPDATE request_attempt SET failed_at = ?, due_at = NULL WHERE subscription_id = ? AND due_at IS NOT NULL",
    )?
    .execute(params![now, subscription_id])?;
    super::ordering::fail_waiting(c, subscription_id, now, false)
}

pub fn list_subscriptions(c: &Connection, application_id: Uuid) -> StoreResult<Vec<Subscription>> {
    query_subscriptions(
        c,
        "SELECT * FROM subscription WHERE application_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
        application_id,
    )
}

pub fn get_subscription(c: &Connection, id: Uuid) -> StoreResult<Option<Subscription>> {
    let raw = c
        .prepare_cached("SELECT * FROM subscription WHERE id = ? AND deleted_at IS NULL")?
        .query_row([id], raw)
        .optional()?;
    raw.map(decode).transpose()
}

pub fn create_subscription(c: &Connection, sub: &Subscription) -> StoreResult<()> {
    check_event_types(c, sub)?;
    c.prepare_cached(
        "INSERT INTO subscription (id, application_id, is_enabled, event_types, description, secret, metadata,
             labels, target_method, target_url, target_headers, dedicated_workers, created_at, updated_at,
             ordering_label, ordering_on_dead_letter)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        sub.id,
        sub.application_id,
        sub.is_enabled,
        to_json(&sub.event_types),
        sub.description,
        sub.secret,
        to_json(&sub.metadata),
        to_json(&sub.labels),
        sub.target.method,
        sub.target.url,
        to_json(&sub.target.headers),
        to_json(&sub.dedicated_workers),
        micros(sub.created_at),
        micros(sub.updated_at),
        ordering::columns(sub).0,
        ordering::columns(sub).1,
    ])?;
    Ok(())
}

pub fn update_subscription(
    c: &Connection,
    sub: &Subscription,
    now: DateTime<Utc>,
) -> StoreResult<Option<Subscription>> {
    let before: Option<(bool, Option<Ordering>)> = c
        .prepare_cached(
            "SELECT is_enabled, ordering_label, ordering_on_dead_letter FROM subscription
             WHERE id = ? AND application_id = ? AND deleted_at IS NULL",
        )?
        .query_row(params![sub.id, sub.application_id], |r| {
            Ok((
                r.get(0)?,
                ordering::from_columns(r.get(1)?, &r.get::<_, String>(2)?),
            ))
        })
        .optional()?;
    let (was_enabled, ordered_before) = match before {
        Some((enabled, ordering)) => (Some(enabled), ordering),
        None => (None, None),
    };
    let raw = c
        .prepare_cached(
            "UPDATE subscription SET is_enabled = ?, event_types = ?, description = ?, metadata = ?, labels = ?,
                 target_method = ?, target_url = ?, target_headers = ?, dedicated_workers = ?, updated_at = ?,
                 ordering_label = ?, ordering_on_dead_letter = ?
             WHERE id = ? AND application_id = ? AND deleted_at IS NULL RETURNING *",
        )?
        .query_row(
            params![
                sub.is_enabled,
                to_json(&sub.event_types),
                sub.description,
                to_json(&sub.metadata),
                to_json(&sub.labels),
                sub.target.method,
                sub.target.url,
                to_json(&sub.target.headers),
                to_json(&sub.dedicated_workers),
                micros(sub.updated_at),
                ordering::columns(sub).0,
                ordering::columns(sub).1,
                sub.id,
                sub.application_id,
            ],
            raw,
        )
        .optional()?;
    let Some(raw) = raw else { return Ok(None) };
    // After the update, so that an unknown subscription is 404 whatever its event types; an
    // error here rolls the update back with this write's savepoint.
    check_event_types(c, sub)?;
    let updated = decode(raw)?;
    if !updated.is_enabled {
        fail_pending(c, updated.id, now)?;
    } else if was_enabled == Some(false) {
        // Enabled again (e.g. after an auto-disable, once the endpoint is fixed): the circuit
        // and the failure history start afresh.
        super::circuits::reset(c, updated.id)?;
    }
    let now = micros(now);
    match ordering::change(ordered_before.as_ref(), updated.ordering.as_ref()) {
        ordering::Change::None => {}
        ordering::Change::Release => super::ordering::release_all(c, updated.id, now)?,
        ordering::Change::ContinueHeld => super::ordering::continue_held(c, updated.id, now)?,
    }
    Ok(Some(updated))
}

pub fn delete_subscription(
    c: &Connection,
    application_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = c
        .prepare_cached("UPDATE subscription SET deleted_at = ? WHERE id = ? AND application_id = ? AND deleted_at IS NULL")?
        .execute(params![micros(now), id, application_id])?;
    if done == 0 {
        return Ok(false);
    }
    fail_pending(c, id, now)?;
    Ok(true)
}

#[async_trait]
impl Subscriptions for SqliteStore {
    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>> {
        self.db
            .read(move |c| list_subscriptions(c, application_id))
            .await
    }
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>> {
        self.db.read(move |c| get_subscription(c, id)).await
    }
    async fn create_subscription_within(
        &self,
        sub: &Subscription,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let sub = sub.clone();
        self.db
            .write(move |c| {
                super::within_quota(
                    c,
                    Quota::SubscriptionsPerApplication,
                    sub.application_id,
                    "",
                    limit,
                )?;
                create_subscription(c, &sub)
            })
            .await
    }
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>> {
        let now = self.clock.now();
        let sub = sub.clone();
        self.db
            .write(move |c| update_subscription(c, &sub, now))
            .await
    }
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let now = self.clock.now();
        self.db
            .write(move |c| delete_subscription(c, application_id, id, now))
            .await
    }
}
