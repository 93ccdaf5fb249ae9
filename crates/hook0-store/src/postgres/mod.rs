//! The PostgreSQL store, for teams that run several API and worker processes on one database.
//!
//! It answers exactly as the SQLite store does: same tables, same rules, timestamps taken from
//! the application's clock and bound as parameters. What differs is concurrency: workers claim
//! batches with `FOR UPDATE SKIP LOCKED` so several processes never get the same attempt, writes
//! that must not interleave take their row locks in one order (subscriptions before attempts,
//! attempts by id) so they cannot deadlock, and new work is announced to other processes with
//! `NOTIFY` (see `wakeup`).

mod attempts;
mod circuits;
mod claim;
mod convert;
mod dead_letters;
mod events;
mod ingest;
mod operational;
mod ordering;
mod outcomes;
mod portal;
mod queue;
mod queue_stats;
mod retention;
mod signing;
mod subscriptions;
mod tenants;
mod tokens;
mod users;
mod wakeup;

#[doc(hidden)]
pub use claim::survey_query;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome, OutcomePolicy};
use hook0_core::identity::{Member, Role, TokenRecord, User};
use hook0_core::model::*;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Executor;
use uuid::Uuid;

use crate::{
    ApplicationScope, ApplicationUsage, AttemptFilter, DailyEvents, DailyScope, DeadLetterFilter,
    DeadLetterRetry, Ingested, PoolStats, QueueStats, Redelivery, Store, StoreOptions, StoreResult,
    SubscriptionProtection,
};

/// Schema migrations, applied in order; `hook0_schema_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_delivery_protection.sql"),
    include_str!("../../migrations/postgres/0003_identity.sql"),
    include_str!("../../migrations/postgres/0004_queue_autovacuum.sql"),
    include_str!("../../migrations/postgres/0005_events_per_day.sql"),
    include_str!("../../migrations/postgres/0006_event_id_per_application.sql"),
    include_str!("../../migrations/postgres/0007_portal_sessions.sql"),
    include_str!("../../migrations/postgres/0008_event_type_schema.sql"),
    include_str!("../../migrations/postgres/0009_ordered_delivery.sql"),
];

/// Key of the advisory lock that serializes migrations of processes starting together.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_305f_6d69; // "hook0_mi"

/// How long a query waits for a free pooled connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    /// The delivery queue's time ([`StoreOptions::clock`]).
    clock: hook0_core::clock::Clock,
    pool: PgPool,
    wakeups: wakeup::WakeUps,
    ingester: ingest::Ingester,
}

/// Refuses a create when `parent` already holds `limit` places of `quota`: locks the parent
/// row first, so concurrent creates under one parent are counted one after the other.
pub(super) async fn within_quota(
    tx: &mut sqlx::PgConnection,
    quota: hook0_core::quota::Quota,
    parent: Uuid,
    except: &str,
    limit: Option<u32>,
) -> StoreResult<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    sqlx::query(crate::quota_check::lock_parent(quota))
        .bind(parent)
        .fetch_optional(&mut *tx)
        .await?;
    let held: i64 = sqlx::query_scalar(crate::quota_check::count(quota))
        .bind(parent)
        .bind(except)
        .fetch_one(&mut *tx)
        .await?;
    if held >= i64::from(limit) {
        return Err(crate::StoreError::QuotaReached(quota));
    }
    Ok(())
}

impl PostgresStore {
    /// The connection pool, for whole-database work such as `transfer`.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connects to the database at `url` (`postgres://user@host/db`), migrating it when
    /// `options.auto_migrate` is set.
    pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let mut connect = PgConnectOptions::from_str(url)?.application_name("hook0");
        for (setting, value) in [
            ("statement_timeout", options.statement_timeout),
            ("lock_timeout", options.lock_timeout),
        ] {
            if let Some(limit) = value {
                connect = connect.options([(setting, format!("{}ms", limit.as_millis()))]);
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // No ping before each use (a round trip per query); a broken connection fails its
            // query, which callers retry or report, and the pool replaces it.
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect.clone())
            .await?;
        if options.auto_migrate {
            migrate(&pool).await?;
        }
        Ok(Self {
            wakeups: wakeup::WakeUps::new(connect, pool.clone()),
            ingester: ingest::Ingester::start(pool.clone()),
            pool,
            clock: options.clock.clone(),
        })
    }

    /// Begins a transaction of the delivery path (claims, outcomes, releases). Their statements
    /// reach `request_attempt` rows through indexes, but a plan a connection cached while the
    /// table was small (a sequential scan joined to the batch) would stay in use as the table
    /// grows, at tens of milliseconds per batch: sequential scans are priced out. So are bitmap
    /// scans: every lease and outcome leaves a dead index entry behind, which a plain index
    /// scan marks as dead once it is dead to all, while a bitmap scan visits it again on every
    /// claim until the next vacuum (the leases read went from 4 ms to linear in the run). A claim is
    /// not `durable`: lost in a crash, its leases leave the attempts due, delivered again (at
    /// least once), so its commit need not wait for the WAL flush.
    async fn begin_delivery(
        &self,
        durable: bool,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        // Settings ride with BEGIN: one round trip.
        Ok(self
            .pool
            .begin_with(if durable {
                "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"
            } else {
                "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
                 SET LOCAL synchronous_commit = off"
            })
            .await?)
    }

    /// Wakes this process's waiting worker at once; other processes learn of the work from the
    /// `NOTIFY` sent in the writing transaction (or, for ingest and replay, just after it).
    fn signal_work(&self) {
        self.wakeups.signal();
    }
}

/// Applies the migrations not yet recorded, all in one transaction under an advisory lock: a
/// process starting while another migrates waits, then finds the work done.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let tracked: bool =
        sqlx::query_scalar("SELECT to_regclass('hook0_schema_migrations') IS NOT NULL")
            .fetch_one(&mut *tx)
            .await?;
    if !tracked {
        (&mut *tx)
            .execute(
                "CREATE TABLE hook0_schema_migrations (
                     version integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await?;
    }
    let applied: i32 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM hook0_schema_migrations")
            .fetch_one(&mut *tx)
            .await?;
    if applied as usize > MIGRATIONS.len() {
        tracing::warn!(
            applied,
            known = MIGRATIONS.len(),
            "the database schema is newer than this build"
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let version = index as i32 + 1;
        // Plain `&str` SQL runs through the simple-query protocol, which takes many statements.
        (&mut *tx).execute(*sql).await?;
        sqlx::query("INSERT INTO hook0_schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tracing::info!(migration = version, "applied PostgreSQL migration");
    }
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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
    async fn create_application_within(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        self.create_application_impl(app, first_secret, limit).await
    }
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>> {
        self.get_application_impl(id).await
    }
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
        retention_days: Option<i32>,
    ) -> StoreResult<Option<Application>> {
        self.update_application_impl(id, organization_id, name, retention_days)
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

    async fn upsert_event_type_within(
        &self,
        event_type: &EventType,
        limit: Option<u32>,
    ) -> StoreResult<EventType> {
        self.upsert_event_type_impl(event_type, limit).await
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
    async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE event_type SET schema = $1
             WHERE application_id = $2 AND name = $3 AND deactivated_at IS NULL",
        )
        .bind(schema.map(sqlx::types::Json))
        .bind(application_id)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>> {
        self.list_subscriptions_impl(application_id).await
    }
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>> {
        self.get_subscription_impl(id).await
    }
    async fn create_subscription_within(
        &self,
        sub: &Subscription,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        self.create_subscription_impl(sub, limit).await
    }
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>> {
        self.update_subscription_impl(sub).await
    }
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool> {
        self.delete_subscription_impl(application_id, id).await
    }

    async fn ingest_event_within(
        &self,
        event: &Event,
        events_per_day: Option<u32>,
    ) -> StoreResult<Ingested> {
        let ingested = self.ingester.ingest(event, events_per_day).await?;
        if ingested.request_attempts > 0 {
            self.wakeups.announce();
        }
        Ok(ingested)
    }
    async fn events_per_day(
        &self,
        scope: DailyScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyEvents>> {
        self.events_per_day_impl(scope, from, to).await
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
            self.wakeups.announce();
        }
        Ok(replayed)
    }

    async fn delivery_outcomes_per_day(
        &self,
        application_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<crate::DailyOutcomes>> {
        self.delivery_outcomes_per_day_impl(application_id, from, to)
            .await
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

    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        self.release_attempts_impl(attempt_ids).await
    }
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.next_due_at_impl().await
    }
    async fn wait_for_work(&self, timeout: Duration) {
        self.wakeups.wait(timeout).await;
    }
    async fn wait_for_new_work(&self, timeout: Duration) {
        self.wakeups.wait_new(timeout).await;
    }
    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        self.queue_stats_impl().await
    }
    fn pool_stats(&self) -> Option<PoolStats> {
        Some(self.pool_stats_impl())
    }
    async fn purge_expired_tokens(
        &self,
        expired_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64> {
        self.purge_expired_tokens_impl(expired_before, batch).await
    }
    async fn count_expired_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64> {
        self.count_expired_tokens_impl(expired_before).await
    }
    async fn purge_expired_events(
        &self,
        default_retention_days: u32,
        batch: u32,
    ) -> StoreResult<u64> {
        self.purge_expired_events_impl(default_retention_days, batch)
            .await
    }

    async fn claim_attempts(
        &self,
        worker: &str,
        request: &ClaimRequest,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.claim_attempts_impl(worker, request).await
    }
    async fn record_delivery_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()> {
        self.record_delivery_outcomes_impl(outcomes, policy).await
    }
    async fn subscription_protection(
        &self,
        subscription_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, SubscriptionProtection>> {
        self.subscription_protection_impl(subscription_ids).await
    }
    async fn set_standard_webhooks(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        enabled: bool,
        first_secret: &str,
    ) -> StoreResult<bool> {
        self.set_standard_webhooks_impl(application_id, subscription_id, enabled, first_secret)
            .await
    }
    async fn rotate_standard_webhooks_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        new_secret: &str,
        overlap: Duration,
    ) -> StoreResult<bool> {
        self.rotate_standard_webhooks_secret_impl(
            application_id,
            subscription_id,
            new_secret,
            overlap,
        )
        .await
    }
    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> StoreResult<Vec<DeadLetter>> {
        self.list_dead_letters_impl(filter).await
    }
    async fn retry_dead_letter(
        &self,
        application_id: Uuid,
        attempt_id: Uuid,
    ) -> StoreResult<DeadLetterRetry> {
        self.retry_dead_letter_impl(application_id, attempt_id)
            .await
    }
    async fn redeliver_dead_letters(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Redelivery> {
        self.redeliver_dead_letters_impl(application_id, subscription_id, since)
            .await
    }
    async fn list_operational_events(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OperationalEvent>> {
        self.list_operational_events_impl(application_id, limit)
            .await
    }
    async fn operational_events_to_notify(&self, limit: u32) -> StoreResult<Vec<OperationalEvent>> {
        self.operational_events_to_notify_impl(limit).await
    }
    async fn mark_operational_events_notified(&self, ids: &[Uuid]) -> StoreResult<()> {
        self.mark_operational_events_notified_impl(ids).await
    }

    async fn register_user(
        &self,
        user: &User,
        organization: &Organization,
        verify_if_first: bool,
    ) -> StoreResult<bool> {
        self.register_user_impl(user, organization, verify_if_first)
            .await
    }
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.get_user_impl(id).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.user_by_email_impl(email).await
    }
    async fn verify_user_email(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        self.verify_user_email_impl(user_id, at).await
    }
    async fn set_user_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        self.set_user_password_impl(user_id, password_hash, verified_at)
            .await
    }
    async fn organization_roles(&self, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>> {
        self.organization_roles_impl(user_id).await
    }
    async fn list_user_organizations(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<(Organization, Role)>> {
        self.list_user_organizations_impl(user_id).await
    }
    async fn create_organization_with_editor(
        &self,
        organization: &Organization,
        user_id: Uuid,
    ) -> StoreResult<()> {
        self.create_organization_with_editor_impl(organization, user_id)
            .await
    }
    async fn list_members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>> {
        self.list_members_impl(organization_id).await
    }
    async fn add_member_within(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        self.add_member_impl(organization_id, user_id, role, at, limit)
            .await
    }
    async fn set_member_role(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<bool> {
        self.set_member_role_impl(organization_id, user_id, role)
            .await
    }
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        self.remove_member_impl(organization_id, user_id).await
    }
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        self.insert_tokens_impl(tokens).await
    }
    async fn live_token(
        &self,
        revocation_id: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        self.live_token_impl(revocation_id, now).await
    }
    async fn rotate_token(
        &self,
        old_id: Uuid,
        new: &[TokenRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.rotate_token_impl(old_id, new, now).await
    }
    async fn expire_session(&self, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.expire_session_impl(session_id, at).await
    }
    async fn expire_user_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.expire_user_sessions_impl(user_id, at).await
    }
    async fn expire_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.expire_other_sessions_impl(user_id, keep, at).await
    }
    async fn list_service_tokens(
        &self,
        organization_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>> {
        self.list_service_tokens_impl(organization_id, now).await
    }
    async fn get_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        self.get_service_token_impl(organization_id, token_id, now)
            .await
    }
    async fn rename_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        self.rename_service_token_impl(organization_id, token_id, name, now)
            .await
    }
    async fn expire_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.expire_service_token_impl(organization_id, token_id, at)
            .await
    }
}
