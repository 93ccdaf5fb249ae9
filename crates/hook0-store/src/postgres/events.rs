//! Events on PostgreSQL: listing, reading, and replay, which adds new attempts for the
//! subscriptions matching now in a single statement (atomic on its own, and one round trip).
//! Ingest is a group commit of its own (`ingest`). The store announces the new work once it
//! commits.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::NaiveDate;
use hook0_core::model::*;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::convert::*;
use super::{ordering, subscriptions, PostgresStore};
use crate::{DailyEvents, DailyScope, Events, Ingested, StoreResult};

/// Query tail of replay (ingest's batch statement does the same per event). Given a CTE
/// `source(id, event_type_name, labels)` with the event (no row: nothing to do), `$1` the
/// application and `$2` the attempts' creation time: share-locks the matching subscriptions
/// (enabled, not deleted, type listed, event labels ⊇ theirs) so a concurrent disable waits
/// for this write or is seen by it, and places one first attempt per subscription
/// ([`ordering::place_attempts`]). Yields `found` and `attempts`. Listeners are told after the
/// commit (see `wakeup`).
static CREATE_ATTEMPTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
    matching AS (
        SELECT s.id, src.id AS event_id, $1::uuid AS application_id, $2::timestamptz AS created_at,
               src.labels ->> s.ordering_label AS key, 1 AS n, NULL::timestamptz AS lease_until,
               NULL::timestamptz AS leased_at, NULL::text AS worker
        FROM source src
        JOIN subscription s ON {}
        ORDER BY s.created_at, s.id
        FOR SHARE OF s),
    {}
    SELECT (SELECT COUNT(*) FROM source) AS found,
           (SELECT COUNT(*) FROM attempts) AS attempts",
        subscriptions::delivered_to("$1", "src"),
        ordering::place_attempts()
    )
});

fn event(row: &PgRow, with_payload: bool) -> StoreResult<Event> {
    Ok(Event {
        id: row.get("id"),
        application_id: row.get("application_id"),
        event_type_name: row.get("event_type_name"),
        payload: if with_payload {
            row.get("payload")
        } else {
            Vec::new()
        },
        payload_content_type: content_type(row)?,
        ip: row.get("ip"),
        metadata: json(row, "metadata")?,
        labels: json(row, "labels")?,
        occurred_at: row.get("occurred_at"),
        received_at: row.get("received_at"),
    })
}

#[async_trait]
impl Events for PostgresStore {
    async fn ingest_event_within(
        &self,
        event: &Event,
        events_per_day: Option<u32>,
    ) -> StoreResult<Ingested> {
        let written = self.ingester.ingest(event, events_per_day).await?;
        if written.left_due {
            self.wakeups.announce();
        }
        Ok(written.ingested)
    }
    async fn events_per_day(
        &self,
        scope: DailyScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyEvents>> {
        let (filter, id) = match scope {
            DailyScope::Application(id) => ("a.id = $1", id),
            DailyScope::Organization(id) => ("a.organization_id = $1 AND a.deleted_at IS NULL", id),
        };
        let sql = format!(
            "SELECT d.application_id, a.name, d.day, SUM(d.amount)::bigint
             FROM events_per_day d JOIN application a ON a.id = d.application_id
             WHERE {filter} AND d.day BETWEEN $2 AND $3
             GROUP BY d.application_id, a.name, d.day
             HAVING SUM(d.amount) > 0
             ORDER BY d.day, a.name, d.application_id"
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| DailyEvents {
                application_id: r.get(0),
                application_name: r.get(1),
                date: r.get(2),
                amount: r.get(3),
            })
            .collect())
    }
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, application_id, event_type_name, payload_content_type, ip, metadata, labels,
                 occurred_at, received_at
             FROM event WHERE application_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2",
        )
        .bind(application_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| event(r, false)).collect()
    }
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>> {
        let row = sqlx::query("SELECT * FROM event WHERE application_id = $1 AND id = $2")
            .bind(application_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| event(r, true)).transpose()
    }
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>> {
        let row = sqlx::query(&format!(
            "WITH source AS (
                 SELECT id, event_type_name, labels FROM event WHERE application_id = $1 AND id = $3),
             {}",
            &*CREATE_ATTEMPTS
        ))
        .bind(application_id)
        .bind(self.clock.now())
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        if row.get::<i64, _>("found") == 0 {
            return Ok(None);
        }
        Ok(Some(row.get::<i64, _>("attempts") as usize))
    }
}
