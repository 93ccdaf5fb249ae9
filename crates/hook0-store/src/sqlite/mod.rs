//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk before the API acknowledges it.
//!
//! SQLite allows one writer at a time, so all writes go through a single-connection pool (no
//! `SQLITE_BUSY` storms) and reads through a pool of readers. Being single-process, the queue's
//! wake-up is an in-process [`Notify`].

mod attempts;
mod batcher;
mod convert;
mod events;
mod queue;
mod subscriptions;
mod tenants;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::delivery::{DeliveryJob, DeliveryOutcome};
use hook0_core::model::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    ApplicationScope, ApplicationUsage, AttemptFilter, Ingested, Store, StoreError, StoreOptions,
    StoreResult,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    work_available: Arc<Notify>,
    ingest: batcher::IngestBatcher,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &str, options: &StoreOptions) -> StoreResult<Self> {
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Database(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let connect = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.clone())
            .await?;
        if options.auto_migrate {
            migrate(&writer).await?;
        }
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.read_only(true))
            .await?;
        let work_available = Arc::new(Notify::new());
        let signal = work_available.clone();
        let ingest = batcher::IngestBatcher::start(writer.clone(), move || signal.notify_one());
        Ok(Self { writer, readers, work_available, ingest })
    }

    fn signal_work(&self) {
        self.work_available.notify_one();
    }
}

async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    let applied: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", index + 1))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(migration = index + 1, "applied SQLite migration");
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        self.list_organizations_impl().await
    }
    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        self.create_organization_impl(org).await
    }
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>> {
        self.get_organization_impl(id).await
    }
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>> {
        self.rename_organization_impl(id, name).await
    }
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool> {
        self.delete_organization_impl(id).await
    }
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64> {
        self.count_applications_impl(organization_id).await
    }

    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>> {
        self.list_applications_impl(organization_id).await
    }
    async fn create_application(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
    ) -> StoreResult<()> {
        self.create_application_impl(app, first_secret).await
    }
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>> {
        self.get_application_impl(id).await
    }
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<Application>> {
        self.update_application_impl(id, organization_id, name)
            .await
    }
    async fn delete_application(&self, id: Uuid) -> StoreResult<bool> {
        self.delete_application_impl(id).await
    }
    async fn application_usage(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> StoreResult<ApplicationUsage> {
        self.application_usage_impl(id, since).await
    }
    async fn application_scope(&self, id: Uuid) -> StoreResult<Option<ApplicationScope>> {
        self.application_scope_impl(id).await
    }
    async fn application_by_secret(&self, token: Uuid) -> StoreResult<Option<ApplicationScope>> {
        self.application_by_secret_impl(token).await
    }

    async fn list_application_secrets(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<ApplicationSecret>> {
        self.list_application_secrets_impl(application_id).await
    }
    async fn create_application_secret(&self, secret: &ApplicationSecret) -> StoreResult<()> {
        self.create_application_secret_impl(secret).await
    }
    async fn rename_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
        name: Option<&str>,
    ) -> StoreResult<Option<ApplicationSecret>> {
        self.rename_application_secret_impl(application_id, token, name)
            .await
    }
    async fn delete_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
    ) -> StoreResult<bool> {
        self.delete_application_secret_impl(application_id, token)
            .await
    }

    async fn upsert_event_type(&self, event_type: &EventType) -> StoreResult<EventType> {
        self.upsert_event_type_impl(event_type).await
    }
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>> {
        self.list_event_types_impl(application_id).await
    }
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>> {
        self.get_event_type_impl(application_id, name).await
    }
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool> {
        self.deactivate_event_type_impl(application_id, name).await
    }

    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>> {
        self.list_subscriptions_impl(application_id).await
    }
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>> {
        self.get_subscription_impl(id).await
    }
    async fn create_subscription(&self, sub: &Subscription) -> StoreResult<()> {
        self.create_subscription_impl(sub).await
    }
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>> {
        self.update_subscription_impl(sub).await
    }
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool> {
        self.delete_subscription_impl(application_id, id).await
    }

    async fn ingest_event(&self, event: &Event) -> StoreResult<Ingested> {
        // The batcher signals the worker after its commit.
        self.ingest.ingest(event.clone()).await
    }
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>> {
        self.list_events_impl(application_id, limit).await
    }
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>> {
        self.get_event_impl(application_id, id).await
    }
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>> {
        let replayed = self.replay_event_impl(application_id, id).await?;
        if replayed.unwrap_or(0) > 0 {
            self.signal_work();
        }
        Ok(replayed)
    }

    async fn list_request_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<RequestAttempt>> {
        self.list_request_attempts_impl(filter).await
    }
    async fn get_request_attempt(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<RequestAttempt>> {
        self.get_request_attempt_impl(application_id, id).await
    }
    async fn get_response(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Response>> {
        self.get_response_impl(application_id, id).await
    }

    async fn claim_due_attempts(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.claim_due_attempts_impl(worker, limit, lease).await
    }
    async fn record_outcomes(&self, outcomes: &[DeliveryOutcome]) -> StoreResult<()> {
        self.record_outcomes_impl(outcomes).await
    }
    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        self.release_attempts_impl(attempt_ids).await
    }
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.next_due_at_impl().await
    }
    async fn wait_for_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.work_available.notified()).await;
    }
}
