//! Operational events on PostgreSQL: what Hook0 tells application owners (a subscription was
//! auto-disabled), recorded in the transaction that caused them and sent to the operator's
//! webhook by the worker (an outbox: `notified_at` marks what was sent).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::OperationalEvent;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::convert::*;
use super::PostgresStore;
use crate::{OperationalEvents, StoreResult};

pub(super) async fn record(
    c: &mut PgConnection,
    organization_id: Uuid,
    application_id: Uuid,
    event_type: &str,
    payload: &serde_json::Value,
    at: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO operational_event (id, organization_id, application_id, event_type, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(application_id)
    .bind(event_type)
    .bind(Json(payload))
    .bind(at)
    .execute(&mut *c)
    .await?;
    Ok(id)
}

fn event(row: &PgRow) -> StoreResult<OperationalEvent> {
    Ok(OperationalEvent {
        id: row.get("id"),
        organization_id: row.get("organization_id"),
        application_id: row.get("application_id"),
        event_type: row.get("event_type"),
        payload: json(row, "payload")?,
        created_at: row.get("created_at"),
    })
}

#[async_trait]
impl OperationalEvents for PostgresStore {
    async fn list_operational_events(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OperationalEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM operational_event WHERE application_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(application_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event).collect()
    }
    async fn operational_events_to_notify(&self, limit: u32) -> StoreResult<Vec<OperationalEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM operational_event WHERE notified_at IS NULL ORDER BY created_at, id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event).collect()
    }
    async fn mark_operational_events_notified(&self, ids: &[Uuid]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE operational_event SET notified_at = $1 WHERE id = ANY($2)")
            .bind(self.clock.now())
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
