//! Events: ingest, reads, replay and daily counts ([`Events`]), and their retention ([`Retention`]).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// What an ingest stored.
#[derive(Clone, Debug)]
pub struct Ingested {
    pub received_at: DateTime<Utc>,
    pub request_attempts: usize,
}

/// Whose daily counts [`Events::events_per_day`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DailyScope {
    Application(Uuid),
    /// Every live application of the organization.
    Organization(Uuid),
}

/// How many events one application received on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyEvents {
    pub application_id: Uuid,
    pub application_name: String,
    pub date: NaiveDate,
    pub amount: i64,
}

/// Events: ingest (the event and its request attempts in one transaction), reads, replay, and the
/// daily counts.
#[async_trait]
pub trait Events: Send + Sync {
    /// Stores the event and one attempt per matching subscription in one transaction, and
    /// counts it in its application's day (`event.received_at`, the caller's clock, in UTC).
    async fn ingest_event(&self, event: &Event) -> StoreResult<Ingested> {
        self.ingest_event_within(event, None).await
    }
    /// [`Events::ingest_event`], refused with `QuotaReached(EventsPerDay)` when the application
    /// already received `events_per_day` events that day: checked in the writing transaction,
    /// so concurrent ingests never overshoot the limit.
    async fn ingest_event_within(
        &self,
        event: &Event,
        events_per_day: Option<u32>,
    ) -> StoreResult<Ingested>;
    /// Events received per application and UTC day from `from` to `to` (inclusive), days with
    /// none left out, ordered by date then application. Kept when retention deletes events.
    async fn events_per_day(
        &self,
        scope: DailyScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyEvents>>;
    /// The newest events of the application, payload left empty.
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>>;
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>>;
    /// New attempts for every subscription matching the event now; `None` when the event is unknown.
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>>;
}

/// Retention: events older than their application keeps them go, with their attempts.
#[async_trait]
pub trait Retention: Send + Sync {
    /// Deletes, in one short transaction, up to `batch` events received before their
    /// application's retention (`retention_days`, else `default_retention_days`) that have no
    /// pending attempt, together with their attempts and responses. Returns how many events
    /// went; callers loop until it returns less than `batch`, so ingest is never blocked long.
    async fn purge_expired_events(
        &self,
        default_retention_days: u32,
        batch: u32,
    ) -> StoreResult<u64>;
}
