//! The storage trait every backend implements, and the small types its methods take.
//!
//! Methods are grouped by resource in the order of the API. Anything that must be atomic (an event
//! with its attempts, a disabled subscription with its failed attempts, an outcome with its retry
//! row) is one method, so each backend can make it one transaction.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::delivery::{DeliveryJob, DeliveryOutcome};
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// Tuning knobs shared by the backends.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// Run migrations when opening.
    pub auto_migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            auto_migrate: true,
        }
    }
}

/// Filters of `GET /request_attempts`; the page is the 50 newest before `cursor`.
#[derive(Clone, Debug, Default)]
pub struct AttemptFilter {
    pub application_id: Uuid,
    pub event_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub min_created_at: Option<DateTime<Utc>>,
    pub max_created_at: Option<DateTime<Utc>>,
    pub event_type_names: Option<Vec<String>>,
    /// Keyset pagination: only attempts strictly older than `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// What an ingest stored.
#[derive(Clone, Debug)]
pub struct Ingested {
    pub received_at: DateTime<Utc>,
    pub request_attempts: usize,
}

/// Counts behind `consumption` and `onboarding_steps` of an application.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplicationUsage {
    pub event_types: i64,
    pub subscriptions: i64,
    pub events: i64,
    pub events_since: i64,
}

/// How an application is known to the authorization layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplicationScope {
    pub application_id: Uuid,
    pub organization_id: Uuid,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Backend name for logs and `/health`: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A cheap round trip, for health checks.
    async fn ping(&self) -> StoreResult<()>;

    // Organizations
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>>;
    async fn create_organization(&self, org: &Organization) -> StoreResult<()>;
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>>;
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>>;
    /// Deletes an organization without live applications; `Ok(false)` when unknown.
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool>;
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64>;

    // Applications (soft-deleted ones are invisible to every method but `application_scope`)
    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>>;
    /// Creates the application and its first secret together.
    async fn create_application(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
    ) -> StoreResult<()>;
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>>;
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<Application>>;
    /// Soft-deletes the application and fails its pending attempts.
    async fn delete_application(&self, id: Uuid) -> StoreResult<bool>;
    /// Counts of an application's live event types and subscriptions, its events, and its
    /// events received since `since` (the start of the day for `events_per_day`).
    async fn application_usage(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> StoreResult<ApplicationUsage>;
    /// The organization of a live application, for authorization.
    async fn application_scope(&self, id: Uuid) -> StoreResult<Option<ApplicationScope>>;
    /// The live application whose live secret this is.
    async fn application_by_secret(&self, token: Uuid) -> StoreResult<Option<ApplicationScope>>;

    // Application secrets
    async fn list_application_secrets(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<ApplicationSecret>>;
    async fn create_application_secret(&self, secret: &ApplicationSecret) -> StoreResult<()>;
    async fn rename_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
        name: Option<&str>,
    ) -> StoreResult<Option<ApplicationSecret>>;
    async fn delete_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
    ) -> StoreResult<bool>;

    // Event types
    /// Idempotent: creates the type or re-activates it.
    async fn upsert_event_type(&self, event_type: &EventType) -> StoreResult<EventType>;
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>>;
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>>;
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool>;

    // Subscriptions
    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>>;
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>>;
    /// Fails with `EventTypeDoesNotExist` when a listed event type is unknown to the application.
    async fn create_subscription(&self, sub: &Subscription) -> StoreResult<()>;
    /// Full replacement (secret and created_at kept); disabling fails pending attempts.
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>>;
    /// Soft-deletes the subscription and fails its pending attempts.
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool>;

    // Events
    /// Stores the event and one attempt per matching subscription in one transaction.
    async fn ingest_event(&self, event: &Event) -> StoreResult<Ingested>;
    /// The newest events of the application, payload left empty.
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>>;
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>>;
    /// New attempts for every subscription matching the event now; `None` when the event is unknown.
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>>;

    // Request attempts and responses
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

    // The delivery queue
    /// Leases up to `limit` due attempts to `worker` for `lease`; a lease that expires before an
    /// outcome is recorded makes the attempt due again.
    async fn claim_due_attempts(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// Records outcomes: response, success/failure, and the retry row when one is scheduled and
    /// the subscription still accepts deliveries. Idempotent: an attempt already finished is skipped.
    async fn record_outcomes(&self, outcomes: &[DeliveryOutcome]) -> StoreResult<()>;
    /// Gives a leased attempt back, due at `due_at` (graceful shutdown).
    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()>;
    /// When the earliest pending attempt becomes due (including leased ones whose lease runs out).
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Resolves when new attempts may be due (in-process signal or database notification), or
    /// after `timeout` at the latest.
    async fn wait_for_work(&self, timeout: Duration);
}
