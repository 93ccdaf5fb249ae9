//! Events on SQLite: ingest writes the event and one request attempt per matching subscription
//! (in the writer's batch transaction); replay adds new attempts for the subscriptions matching
//! now.

use std::cell::RefCell;
use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::model::*;
use hook0_core::quota::Quota;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::subscriptions::enabled_subscriptions;
use super::{ordering, SqliteStore};
use crate::error::is_unique_violation;
use crate::{DailyEvents, DailyScope, Events, Ingested, StoreError, StoreResult};

fn event(row: &Row, with_payload: bool) -> rusqlite::Result<(Event, String, String, String)> {
    let content_type: String = row.get("payload_content_type")?;
    let event = Event {
        id: row.get("id")?,
        application_id: row.get("application_id")?,
        event_type_name: row.get("event_type_name")?,
        payload: if with_payload {
            row.get("payload")?
        } else {
            Vec::new()
        },
        payload_content_type: PayloadContentType::TextPlain,
        ip: row.get("ip")?,
        metadata: StringMap::new(),
        labels: StringMap::new(),
        occurred_at: time(row.get("occurred_at")?),
        received_at: time(row.get("received_at")?),
    };
    Ok((
        event,
        content_type,
        row.get("metadata")?,
        row.get("labels")?,
    ))
}

fn decode(
    (mut e, content_type, metadata, labels): (Event, String, String, String),
) -> StoreResult<Event> {
    e.payload_content_type = PayloadContentType::parse(&content_type).ok_or_else(|| {
        StoreError::Database(format!("unknown payload content type {content_type}"))
    })?;
    e.metadata = from_json(&metadata)?;
    e.labels = from_json(&labels)?;
    Ok(e)
}

/// Inserts a first attempt (retry_count 0) for each subscription the event matches: due now,
/// or in its key's line for a subscription that orders deliveries.
fn create_attempts(
    c: &Connection,
    application_id: Uuid,
    event_id: Uuid,
    event_type: &str,
    labels: &StringMap,
    now: i64,
) -> StoreResult<usize> {
    let mut created = 0;
    for sub in enabled_subscriptions(c, application_id)? {
        if sub.matches(event_type, labels) {
            let key = sub.ordering_key(labels);
            ordering::queue_attempt(c, application_id, event_id, sub.id, key, now)?;
            created += 1;
        }
    }
    Ok(created)
}

/// Inserts the event row; `EventAlreadyIngested` when its application already has that id.
pub(super) fn insert_event(c: &Connection, e: &Event) -> StoreResult<()> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO event (id, application_id, event_type_name, payload, payload_content_type, ip, metadata,
                 labels, occurred_at, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            e.id,
            e.application_id,
            e.event_type_name,
            e.payload,
            e.payload_content_type.as_str(),
            e.ip,
            to_json(&e.metadata),
            to_json(&e.labels),
            micros(e.occurred_at),
            micros(e.received_at),
        ]);
    match inserted {
        Err(err) if is_unique_violation(&err) => return Err(StoreError::EventAlreadyIngested),
        other => other?,
    };
    Ok(())
}

pub fn ingest_event(
    c: &Connection,
    e: &Event,
    events_per_day: Option<u32>,
) -> StoreResult<Ingested> {
    let known = c
        .prepare_cached("SELECT 1 FROM event_type WHERE application_id = ? AND name = ?")?
        .exists(params![e.application_id, e.event_type_name])?;
    if !known {
        return Err(StoreError::EventTypeDoesNotExist(e.event_type_name.clone()));
    }
    let received_at = e.received_at;
    let day = received_at.date_naive().to_string();
    // One writer: the count read here (stored, plus what this batch added) cannot change
    // before this transaction commits.
    if let Some(limit) = events_per_day {
        let pending = PENDING_DAILY
            .with(|p| p.borrow().get(&(e.application_id, day.clone())).copied())
            .unwrap_or(0);
        if events_on(c, e.application_id, &day)? + pending >= i64::from(limit) {
            return Err(StoreError::QuotaReached(Quota::EventsPerDay));
        }
    }
    insert_event(c, e)?;
    let request_attempts = create_attempts(
        c,
        e.application_id,
        e.id,
        &e.event_type_name,
        &e.labels,
        micros(received_at),
    )?;
    // Last, once nothing can fail any more: this write's savepoint is kept from here on.
    PENDING_DAILY.with(|p| *p.borrow_mut().entry((e.application_id, day)).or_default() += 1);
    Ok(Ingested {
        received_at,
        request_attempts,
    })
}

thread_local! {
    /// Events ingested by the writer's current batch, per application and day: added to
    /// `events_per_day` once, just before the batch commits ([`write_daily_counts`]).
    static PENDING_DAILY: RefCell<HashMap<(Uuid, String), i64>> = RefCell::default();
}

/// The writer's hook before each commit: adds the batch's ingests to the daily counts.
pub fn write_daily_counts(c: &Connection) -> StoreResult<()> {
    let pending = PENDING_DAILY.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if pending.is_empty() {
        return Ok(());
    }
    let mut upsert = c.prepare_cached(
        "INSERT INTO events_per_day (application_id, day, slot, amount) VALUES (?, ?, 0, ?)
         ON CONFLICT (application_id, day, slot) DO UPDATE SET amount = amount + excluded.amount",
    )?;
    for ((application_id, day), amount) in pending {
        upsert.execute(params![application_id, day, amount])?;
    }
    Ok(())
}

/// Events the application received on `day` (`YYYY-MM-DD`, UTC), as committed.
fn events_on(c: &Connection, application_id: Uuid, day: &str) -> StoreResult<i64> {
    Ok(c.prepare_cached(
        "SELECT COALESCE(SUM(amount), 0) FROM events_per_day WHERE application_id = ? AND day = ?",
    )?
    .query_row(params![application_id, day], |r| r.get(0))?)
}

pub fn events_per_day(
    c: &Connection,
    scope: DailyScope,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<DailyEvents>> {
    let (filter, id) = match scope {
        DailyScope::Application(id) => ("a.id = ?1", id),
        DailyScope::Organization(id) => ("a.organization_id = ?1 AND a.deleted_at IS NULL", id),
    };
    let sql = format!(
        "SELECT d.application_id, a.name, d.day, SUM(d.amount)
         FROM events_per_day d JOIN application a ON a.id = d.application_id
         WHERE {filter} AND d.day BETWEEN ?2 AND ?3
         GROUP BY d.application_id, a.name, d.day
         HAVING SUM(d.amount) > 0
         ORDER BY d.day, a.name, d.application_id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![id, from.to_string(), to.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?))
        })?
        .collect::<Result<Vec<(Uuid, String, String, i64)>, _>>()?;
    rows.into_iter()
        .map(|(application_id, application_name, day, amount)| {
            Ok(DailyEvents {
                application_id,
                application_name,
                date: day
                    .parse()
                    .map_err(|_| StoreError::Database(format!("bad day {day}")))?,
                amount,
            })
        })
        .collect()
}

pub fn list_events(c: &Connection, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, application_id, event_type_name, payload_content_type, ip, metadata, labels, occurred_at, received_at
         FROM event WHERE application_id = ? ORDER BY received_at DESC, id DESC LIMIT ?",
    )?;
    let rows = stmt
        .query_map(params![application_id, limit], |r| event(r, false))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode).collect()
}

pub fn get_event(c: &Connection, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>> {
    let row = c
        .prepare_cached("SELECT * FROM event WHERE application_id = ? AND id = ?")?
        .query_row(params![application_id, id], |r| event(r, true))
        .optional()?;
    row.map(decode).transpose()
}

pub fn replay_event(
    c: &Connection,
    application_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<usize>> {
    let row: Option<(String, String)> = c
        .prepare_cached(
            "SELECT event_type_name, labels FROM event WHERE application_id = ? AND id = ?",
        )?
        .query_row(params![application_id, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((event_type, labels)) = row else {
        return Ok(None);
    };
    let labels: StringMap = from_json(&labels)?;
    Ok(Some(create_attempts(
        c,
        application_id,
        id,
        &event_type,
        &labels,
        micros(now),
    )?))
}

#[async_trait]
impl Events for SqliteStore {
    async fn ingest_event_within(
        &self,
        event: &Event,
        events_per_day: Option<u32>,
    ) -> StoreResult<Ingested> {
        let event = event.clone();
        let ingested = self
            .db
            .write(move |c| ingest_event(c, &event, events_per_day))
            .await?;
        if ingested.request_attempts > 0 {
            self.signal_work();
        }
        Ok(ingested)
    }
    async fn events_per_day(
        &self,
        scope: DailyScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyEvents>> {
        self.db
            .read(move |c| events_per_day(c, scope, from, to))
            .await
    }
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>> {
        self.db
            .read(move |c| list_events(c, application_id, limit))
            .await
    }
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>> {
        self.db
            .read(move |c| get_event(c, application_id, id))
            .await
    }
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>> {
        let now = self.clock.now();
        let replayed = self
            .db
            .write(move |c| replay_event(c, application_id, id, now))
            .await?;
        if replayed.unwrap_or(0) > 0 {
            self.signal_work();
        }
        Ok(replayed)
    }
}
