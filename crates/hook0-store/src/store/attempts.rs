//! Reading request attempts and their responses ([`Attempts`]).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// Filters of `GET /request_attempts`; the page is the 50 newest before `cursor`.
#[derive(Clone, Debug, Default)]
pub struct AttemptFilter {
    pub application_id: Uuid,
    pub event_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub min_created_at: Option<DateTime<Utc>>,
    pub max_created_at: Option<DateTime<Utc>>,
    pub event_type_names: Option<Vec<String>>,
    /// Attempts in any of these states (all when empty); `waiting` and `pending` are told
    /// apart at `now`.
    pub statuses: Vec<AttemptStatusFilter>,
    pub now: DateTime<Utc>,
    /// Keyset pagination: only attempts strictly older than `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// Delivery attempts created on one UTC day, by how they ended so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyOutcomes {
    pub date: NaiveDate,
    pub succeeded: i64,
    pub failed: i64,
    /// Neither yet (pending, waiting or in flight).
    pub open: i64,
}

/// Reads of request attempts and their responses.
#[async_trait]
pub trait Attempts: Send + Sync {
    /// The application's attempts created on each UTC day from `from` to `to` (inclusive), by
    /// outcome so far; days without attempts left out, oldest first.
    async fn delivery_outcomes_per_day(
        &self,
        application_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyOutcomes>>;
    async fn list_request_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<RequestAttempt>>;
    async fn get_request_attempt(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<RequestAttempt>>;
    async fn get_response(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Response>>;
}
