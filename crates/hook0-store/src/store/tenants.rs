//! Organizations, applications, their secrets and event types ([`Tenants`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// Counts behind `consumption` and `onboarding_steps` of an application.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplicationUsage {
    pub event_types: i64,
    pub subscriptions: i64,
    pub events: i64,
    /// Events received on the UTC day of `since` and after (from the daily counts, so events
    /// already deleted by retention still count).
    pub events_since: i64,
}

/// How an application is known to the authorization layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplicationScope {
    pub application_id: Uuid,
    pub organization_id: Uuid,
}

/// Organizations, applications (a soft-deleted one is invisible to every method but
/// `application_scope`), their secrets and their event types.
#[async_trait]
pub trait Tenants: Send + Sync {
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>>;
    async fn create_organization(&self, org: &Organization) -> StoreResult<()>;
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>>;
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>>;
    /// Deletes an organization without live applications; `Ok(false)` when unknown.
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool>;
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64>;
    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>>;
    /// Creates the application and its first secret together.
    async fn create_application(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
    ) -> StoreResult<()> {
        self.create_application_within(app, first_secret, None)
            .await
    }
    /// [`Tenants::create_application`], refused with `QuotaReached` when the organization already
    /// has `applications_per_organization` live applications (checked in the transaction).
    async fn create_application_within(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
        applications_per_organization: Option<u32>,
    ) -> StoreResult<()>;
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>>;
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
        retention_days: Option<i32>,
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
    /// Idempotent: creates the type or re-activates it.
    async fn upsert_event_type(&self, event_type: &EventType) -> StoreResult<EventType> {
        self.upsert_event_type_within(event_type, None).await
    }
    /// [`Tenants::upsert_event_type`], refused with `QuotaReached` when the application already
    /// has `event_types_per_application` other active types (an active type upserted again
    /// takes no new place).
    async fn upsert_event_type_within(
        &self,
        event_type: &EventType,
        event_types_per_application: Option<u32>,
    ) -> StoreResult<EventType>;
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>>;
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>>;
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool>;
    /// Sets (or, with `None`, removes) a live event type's schema; false when there is no such
    /// live type.
    async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&serde_json::Value>,
    ) -> StoreResult<bool>;
}
