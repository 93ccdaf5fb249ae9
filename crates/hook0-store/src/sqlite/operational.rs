//! Operational events on SQLite: what Hook0 tells application owners (a subscription was
//! auto-disabled), recorded in the transaction that caused them and sent to the operator's
//! webhook by the worker (an outbox: `notified_at` marks what was sent).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::OperationalEvent;
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{OperationalEvents, StoreResult};

pub fn record(
    c: &Connection,
    organization_id: Uuid,
    application_id: Uuid,
    event_type: &str,
    payload: &serde_json::Value,
    at: i64,
) -> StoreResult<Uuid> {
    let id = Uuid::now_v7();
    c.prepare_cached(
        "INSERT INTO operational_event (id, organization_id, application_id, event_type, payload, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        id,
        organization_id,
        application_id,
        event_type,
        to_json(payload),
        at
    ])?;
    Ok(id)
}

fn event(row: &Row) -> rusqlite::Result<(OperationalEvent, String)> {
    Ok((
        OperationalEvent {
            id: row.get("id")?,
            organization_id: row.get("organization_id")?,
            application_id: row.get("application_id")?,
            event_type: row.get("event_type")?,
            payload: serde_json::Value::Null,
            created_at: time(row.get("created_at")?),
        },
        row.get("payload")?,
    ))
}

fn query(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<OperationalEvent>> {
    let rows = c
        .prepare_cached(sql)?
        .query_map(args, event)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(mut e, payload)| {
            e.payload = from_json(&payload)?;
            Ok(e)
        })
        .collect()
}

pub fn list(
    c: &Connection,
    application_id: Uuid,
    limit: u32,
) -> StoreResult<Vec<OperationalEvent>> {
    query(
        c,
        "SELECT * FROM operational_event WHERE application_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        params![application_id, limit],
    )
}

pub fn to_notify(c: &Connection, limit: u32) -> StoreResult<Vec<OperationalEvent>> {
    query(
        c,
        "SELECT * FROM operational_event WHERE notified_at IS NULL ORDER BY created_at, id LIMIT ?",
        params![limit],
    )
}

pub fn mark_notified(c: &Connection, ids: &[Uuid], now: DateTime<Utc>) -> StoreResult<()> {
    let mut stmt = c.prepare_cached("UPDATE operational_event SET notified_at = ? WHERE id = ?")?;
    let at = micros(now);
    for id in ids {
        stmt.execute(params![at, id])?;
    }
    Ok(())
}

#[async_trait]
impl OperationalEvents for SqliteStore {
    async fn list_operational_events(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OperationalEvent>> {
        self.db.read(move |c| list(c, application_id, limit)).await
    }
    async fn operational_events_to_notify(&self, limit: u32) -> StoreResult<Vec<OperationalEvent>> {
        self.db.read(move |c| to_notify(c, limit)).await
    }
    async fn mark_operational_events_notified(&self, ids: &[Uuid]) -> StoreResult<()> {
        let now = self.clock.now();
        let ids = ids.to_vec();
        self.db.write(move |c| mark_notified(c, &ids, now)).await
    }
}
