//! Events on SQLite: ingest writes the event and one request attempt per matching subscription
//! in one transaction; replay adds new attempts for the subscriptions matching now.

use hook0_core::model::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::convert::*;
use super::subscriptions::enabled_subscriptions;
use super::SqliteStore;
use crate::{StoreError, StoreResult};

fn event(row: &SqliteRow, with_payload: bool) -> StoreResult<Event> {
    let content_type: String = row.get("payload_content_type");
    Ok(Event {
        id: row.get("id"),
        application_id: row.get("application_id"),
        event_type_name: row.get("event_type_name"),
        payload: if with_payload {
            row.get("payload")
        } else {
            Vec::new()
        },
        payload_content_type: PayloadContentType::parse(&content_type).ok_or_else(|| {
            StoreError::Database(format!("unknown payload content type {content_type}"))
        })?,
        ip: row.get("ip"),
        metadata: from_json(row.get("metadata"))?,
        labels: from_json(row.get("labels"))?,
        occurred_at: time(row.get("occurred_at")),
        received_at: time(row.get("received_at")),
    })
}

/// Inserts a first attempt (retry_count 0, due now) for each subscription the event matches.
async fn create_attempts(
    conn: &mut SqliteConnection,
    application_id: Uuid,
    event_id: Uuid,
    event_type: &str,
    labels: &StringMap,
    now: i64,
) -> StoreResult<usize> {
    let mut created = 0;
    for sub in enabled_subscriptions(conn, application_id).await? {
        if !sub.matches(event_type, labels) {
            continue;
        }
        sqlx::query(
            "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at, due_at, retry_count)
             VALUES (?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(Uuid::now_v7())
        .bind(application_id)
        .bind(event_id)
        .bind(sub.id)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        created += 1;
    }
    Ok(created)
}

/// Writes one event and its attempts on `conn` (inside the caller's transaction): the unit the
/// ingest batcher commits many of at once.
pub(super) async fn insert_event(conn: &mut SqliteConnection, e: &Event, received_at: i64) -> StoreResult<usize> {
    let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM event_type WHERE application_id = ? AND name = ?")
        .bind(e.application_id)
        .bind(&e.event_type_name)
        .fetch_optional(&mut *conn)
        .await?;
    if known.is_none() {
        return Err(StoreError::EventTypeDoesNotExist(e.event_type_name.clone()));
    }
    let inserted = sqlx::query(
        "INSERT INTO event (id, application_id, event_type_name, payload, payload_content_type, ip, metadata,
             labels, occurred_at, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id)
    .bind(e.application_id)
    .bind(&e.event_type_name)
    .bind(&e.payload)
    .bind(e.payload_content_type.as_str())
    .bind(&e.ip)
    .bind(to_json(&e.metadata))
    .bind(to_json(&e.labels))
    .bind(micros(e.occurred_at))
    .bind(received_at)
    .execute(&mut *conn)
    .await;
    if let Err(sqlx::Error::Database(db)) = &inserted {
        if db.is_unique_violation() {
            return Err(StoreError::EventAlreadyIngested);
        }
    }
    inserted?;
    create_attempts(conn, e.application_id, e.id, &e.event_type_name, &e.labels, received_at).await
}

impl SqliteStore {
    pub(super) async fn list_events_impl(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, application_id, event_type_name, payload_content_type, ip, metadata, labels, occurred_at, received_at
             FROM event WHERE application_id = ? ORDER BY received_at DESC, id DESC LIMIT ?",
        )
        .bind(application_id)
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|r| event(r, false)).collect()
    }

    pub(super) async fn get_event_impl(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<Event>> {
        let row = sqlx::query("SELECT * FROM event WHERE application_id = ? AND id = ?")
            .bind(application_id)
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(|r| event(r, true)).transpose()
    }

    pub(super) async fn replay_event_impl(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<usize>> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "SELECT event_type_name, labels FROM event WHERE application_id = ? AND id = ?",
        )
        .bind(application_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let labels: StringMap = from_json(row.get("labels"))?;
        let event_type: String = row.get("event_type_name");
        let created = create_attempts(
            &mut tx,
            application_id,
            id,
            &event_type,
            &labels,
            micros(now()),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(created))
    }
}
