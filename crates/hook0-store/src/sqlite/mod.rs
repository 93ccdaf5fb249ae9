//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk before the API acknowledges it.
//!
//! SQLite allows one writer at a time, so every write runs on one writer thread that commits
//! whatever is queued in a single transaction (group commit, see [`db`]); reads run on a few
//! reader threads. Being single-process, the queue's wake-up is an in-process [`Notify`].

mod attempts;
mod circuits;
mod claim;
mod convert;
mod db;
mod dead_letters;
mod events;
mod operational;
mod ordering;
mod portal;
mod queue;
mod queue_stats;
mod retention;
mod signing;
mod subscriptions;
mod tenants;
mod tokens;
mod users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome, OutcomePolicy};
use hook0_core::identity::{Member, Role, TokenRecord, User};
use hook0_core::model::*;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::outcome_plan::Wake;
use crate::quota_check;
use crate::{
    ApplicationScope, ApplicationUsage, AttemptFilter, DailyEvents, DailyScope, DeadLetterFilter,
    DeadLetterRetry, Ingested, QueueStats, Redelivery, Store, StoreError, StoreOptions,
    StoreResult, SubscriptionProtection,
};
use db::Db;
use hook0_core::quota::Quota;

/// Refuses a create when `parent` already holds `limit` places of `quota`. Runs in the
/// writer's transaction: the single writer makes the count exact.
fn within_quota(
    c: &Connection,
    quota: Quota,
    parent: Uuid,
    except: &str,
    limit: Option<u32>,
) -> StoreResult<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let held: i64 = c
        .prepare_cached(quota_check::count(quota))?
        .query_row(rusqlite::params![parent, except], |r| r.get(0))?;
    if held >= i64::from(limit) {
        return Err(StoreError::QuotaReached(quota));
    }
    Ok(())
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_delivery_protection.sql"),
    include_str!("../../migrations/sqlite/0003_identity.sql"),
    include_str!("../../migrations/sqlite/0004_claim_by_subscription.sql"),
    include_str!("../../migrations/sqlite/0005_events_per_day.sql"),
    include_str!("../../migrations/sqlite/0006_event_id_per_application.sql"),
    include_str!("../../migrations/sqlite/0007_portal_sessions.sql"),
    include_str!("../../migrations/sqlite/0008_event_type_schema.sql"),
    include_str!("../../migrations/sqlite/0009_ordered_delivery.sql"),
];

pub struct SqliteStore {
    db: Db,
    /// New work (attempts due): wakes every waiting worker.
    work_available: Arc<Notify>,
    /// Finished deliveries that made nothing due: wakes a worker blocked by a cap only.
    slots_freed: Arc<Notify>,
    /// The delivery queue's time ([`StoreOptions::clock`]).
    clock: hook0_core::clock::Clock,
}

fn connect(path: &Path, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            index + 1
        ))?;
        tracing::info!(migration = index + 1, "applied SQLite migration");
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &str, options: &StoreOptions) -> StoreResult<Self> {
        let path = Path::new(path).to_path_buf();
        let readers = options.max_connections.clamp(1, 8) as usize;
        let auto_migrate = options.auto_migrate;
        let (writer, readers) = tokio::task::spawn_blocking(move || -> StoreResult<_> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Database(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let writer = connect(&path, false)?;
            if auto_migrate {
                migrate(&writer)?;
            }
            let readers = (0..readers)
                .map(|_| connect(&path, true))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((writer, readers))
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))??;
        Ok(Self {
            db: Db::start(writer, readers, events::write_daily_counts),
            work_available: Arc::new(Notify::new()),
            slots_freed: Arc::new(Notify::new()),
            clock: options.clock.clone(),
        })
    }

    fn signal_work(&self) {
        self.work_available.notify_one();
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// Goes through the writer: healthy means a write transaction can start (the file is not
    /// locked by another process, the writer thread is alive) and the schema can be read.
    async fn ping(&self) -> StoreResult<()> {
        self.db
            .write(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?))
            .await
    }

    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        self.db.read(tenants::list_organizations).await
    }
    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        let org = org.clone();
        self.db
            .write(move |c| tenants::create_organization(c, &org))
            .await
    }
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>> {
        self.db
            .read(move |c| tenants::get_organization(c, id))
            .await
    }
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>> {
        let name = name.to_owned();
        self.db
            .write(move |c| tenants::rename_organization(c, id, &name))
            .await
    }
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool> {
        self.db
            .write(move |c| tenants::delete_organization(c, id))
            .await
    }
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64> {
        self.db
            .read(move |c| tenants::count_applications(c, organization_id))
            .await
    }

    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>> {
        self.db
            .read(move |c| tenants::list_applications(c, organization_id))
            .await
    }
    async fn create_application_within(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let (app, secret) = (app.clone(), first_secret.clone());
        self.db
            .write(move |c| {
                within_quota(
                    c,
                    Quota::ApplicationsPerOrganization,
                    app.organization_id,
                    "",
                    limit,
                )?;
                tenants::create_application(c, &app, &secret)
            })
            .await
    }
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>> {
        self.db.read(move |c| tenants::get_application(c, id)).await
    }
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
        retention_days: Option<i32>,
    ) -> StoreResult<Option<Application>> {
        let name = name.to_owned();
        self.db
            .write(move |c| {
                tenants::update_application(c, id, organization_id, &name, retention_days)
            })
            .await
    }
    async fn delete_application(&self, id: Uuid) -> StoreResult<bool> {
        self.db
            .write(move |c| tenants::delete_application(c, id))
            .await
    }
    async fn application_usage(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> StoreResult<ApplicationUsage> {
        self.db
            .read(move |c| tenants::application_usage(c, id, since))
            .await
    }
    async fn application_scope(&self, id: Uuid) -> StoreResult<Option<ApplicationScope>> {
        self.db
            .read(move |c| tenants::application_scope(c, id))
            .await
    }
    async fn application_by_secret(&self, token: Uuid) -> StoreResult<Option<ApplicationScope>> {
        self.db
            .read(move |c| tenants::application_by_secret(c, token))
            .await
    }

    async fn list_application_secrets(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<ApplicationSecret>> {
        self.db
            .read(move |c| tenants::list_application_secrets(c, application_id))
            .await
    }
    async fn create_application_secret(&self, secret: &ApplicationSecret) -> StoreResult<()> {
        let secret = secret.clone();
        self.db
            .write(move |c| tenants::create_application_secret(c, &secret))
            .await
    }
    async fn rename_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
        name: Option<&str>,
    ) -> StoreResult<Option<ApplicationSecret>> {
        let name = name.map(str::to_owned);
        self.db
            .write(move |c| {
                tenants::rename_application_secret(c, application_id, token, name.as_deref())
            })
            .await
    }
    async fn delete_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
    ) -> StoreResult<bool> {
        self.db
            .write(move |c| tenants::delete_application_secret(c, application_id, token))
            .await
    }

    async fn upsert_event_type_within(
        &self,
        event_type: &EventType,
        limit: Option<u32>,
    ) -> StoreResult<EventType> {
        let et = event_type.clone();
        self.db
            .write(move |c| {
                let name = et.name();
                within_quota(
                    c,
                    Quota::EventTypesPerApplication,
                    et.application_id,
                    &name,
                    limit,
                )?;
                tenants::upsert_event_type(c, &et)
            })
            .await
    }
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>> {
        self.db
            .read(move |c| tenants::list_event_types(c, application_id))
            .await
    }
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>> {
        let name = name.to_owned();
        self.db
            .read(move |c| tenants::get_event_type(c, application_id, &name))
            .await
    }
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.db
            .write(move |c| tenants::deactivate_event_type(c, application_id, &name))
            .await
    }
    async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let (name, schema) = (name.to_owned(), schema.cloned());
        self.db
            .write(move |c| {
                tenants::set_event_type_schema(c, application_id, &name, schema.as_ref())
            })
            .await
    }

    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>> {
        self.db
            .read(move |c| subscriptions::list_subscriptions(c, application_id))
            .await
    }
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>> {
        self.db
            .read(move |c| subscriptions::get_subscription(c, id))
            .await
    }
    async fn create_subscription_within(
        &self,
        sub: &Subscription,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let sub = sub.clone();
        self.db
            .write(move |c| {
                within_quota(
                    c,
                    Quota::SubscriptionsPerApplication,
                    sub.application_id,
                    "",
                    limit,
                )?;
                subscriptions::create_subscription(c, &sub)
            })
            .await
    }
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>> {
        let sub = sub.clone();
        self.db
            .write(move |c| subscriptions::update_subscription(c, &sub))
            .await
    }
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool> {
        self.db
            .write(move |c| subscriptions::delete_subscription(c, application_id, id))
            .await
    }

    async fn ingest_event_within(
        &self,
        event: &Event,
        events_per_day: Option<u32>,
    ) -> StoreResult<Ingested> {
        let event = event.clone();
        let ingested = self
            .db
            .write(move |c| events::ingest_event(c, &event, events_per_day))
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
            .read(move |c| events::events_per_day(c, scope, from, to))
            .await
    }
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>> {
        self.db
            .read(move |c| events::list_events(c, application_id, limit))
            .await
    }
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>> {
        self.db
            .read(move |c| events::get_event(c, application_id, id))
            .await
    }
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>> {
        let replayed = self
            .db
            .write(move |c| events::replay_event(c, application_id, id))
            .await?;
        if replayed.unwrap_or(0) > 0 {
            self.signal_work();
        }
        Ok(replayed)
    }

    async fn delivery_outcomes_per_day(
        &self,
        application_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<crate::DailyOutcomes>> {
        self.db
            .read(move |c| attempts::delivery_outcomes_per_day(c, application_id, from, to))
            .await
    }
    async fn list_request_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<RequestAttempt>> {
        let filter = filter.clone();
        self.db
            .read(move |c| attempts::list_request_attempts(c, &filter))
            .await
    }
    async fn get_request_attempt(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<RequestAttempt>> {
        self.db
            .read(move |c| attempts::get_request_attempt(c, application_id, id))
            .await
    }
    async fn get_response(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Response>> {
        self.db
            .read(move |c| attempts::get_response(c, application_id, id))
            .await
    }

    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        let ids = attempt_ids.to_vec();
        let now = self.clock.now();
        self.db
            .write(move |c| queue::release_attempts(c, &ids, now))
            .await?;
        self.signal_work();
        Ok(())
    }
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.db.read(queue::next_due_at).await
    }
    async fn wait_for_work(&self, timeout: Duration) {
        let either = async {
            tokio::select! {
                _ = self.work_available.notified() => {}
                _ = self.slots_freed.notified() => {}
            }
        };
        let _ = tokio::time::timeout(timeout, either).await;
    }
    async fn wait_for_new_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.work_available.notified()).await;
    }
    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        self.db.read(queue_stats::queue_stats).await
    }

    async fn claim_attempts(
        &self,
        worker: &str,
        request: &ClaimRequest,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let (worker, request) = (worker.to_owned(), request.clone());
        let now = self.clock.now();
        self.db
            .write_lease(move |c| claim::claim_attempts(c, &worker, &request, now))
            .await
    }
    async fn record_delivery_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()> {
        let (outcomes, policy) = (outcomes.to_vec(), policy.clone());
        let now = self.clock.now();
        match self
            .db
            .write(move |c| queue::record_outcomes(c, &outcomes, &policy, now))
            .await?
        {
            Wake::Work => self.signal_work(),
            Wake::Slots => self.slots_freed.notify_one(),
            Wake::Nobody => {}
        }
        Ok(())
    }
    async fn subscription_protection(
        &self,
        subscription_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, SubscriptionProtection>> {
        let ids = subscription_ids.to_vec();
        let found = self.db.read(move |c| signing::protection(c, &ids)).await?;
        Ok(found.into_iter().collect())
    }
    async fn set_standard_webhooks(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        enabled: bool,
        first_secret: &str,
    ) -> StoreResult<bool> {
        let secret = first_secret.to_owned();
        self.db
            .write(move |c| {
                signing::set_standard_webhooks(c, application_id, subscription_id, enabled, &secret)
            })
            .await
    }
    async fn rotate_standard_webhooks_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        new_secret: &str,
        overlap: Duration,
    ) -> StoreResult<bool> {
        let secret = new_secret.to_owned();
        self.db
            .write(move |c| {
                signing::rotate_secret(c, application_id, subscription_id, &secret, overlap)
            })
            .await
    }
    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> StoreResult<Vec<DeadLetter>> {
        let filter = filter.clone();
        self.db.read(move |c| dead_letters::list(c, &filter)).await
    }
    async fn retry_dead_letter(
        &self,
        application_id: Uuid,
        attempt_id: Uuid,
    ) -> StoreResult<DeadLetterRetry> {
        let retried = self
            .db
            .write(move |c| dead_letters::retry(c, application_id, attempt_id))
            .await?;
        if matches!(retried, DeadLetterRetry::Queued { .. }) {
            self.signal_work();
        }
        Ok(retried)
    }
    async fn redeliver_dead_letters(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Redelivery> {
        let redelivered = self
            .db
            .write(move |c| dead_letters::redeliver(c, application_id, subscription_id, since))
            .await?;
        if matches!(redelivered, Redelivery::Queued { count } if count > 0) {
            self.signal_work();
        }
        Ok(redelivered)
    }
    async fn list_operational_events(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OperationalEvent>> {
        self.db
            .read(move |c| operational::list(c, application_id, limit))
            .await
    }
    async fn operational_events_to_notify(&self, limit: u32) -> StoreResult<Vec<OperationalEvent>> {
        self.db
            .read(move |c| operational::to_notify(c, limit))
            .await
    }
    async fn mark_operational_events_notified(&self, ids: &[Uuid]) -> StoreResult<()> {
        let ids = ids.to_vec();
        self.db
            .write(move |c| operational::mark_notified(c, &ids))
            .await
    }
    async fn purge_expired_events(
        &self,
        default_retention_days: u32,
        batch: u32,
    ) -> StoreResult<u64> {
        let now = self.clock.now();
        self.db
            .write(move |c| retention::purge_expired_events(c, default_retention_days, batch, now))
            .await
    }

    async fn register_user(
        &self,
        user: &User,
        organization: &Organization,
        verify_if_first: bool,
    ) -> StoreResult<bool> {
        let (user, organization) = (user.clone(), organization.clone());
        self.db
            .write(move |c| users::register_user(c, &user, &organization, verify_if_first))
            .await
    }
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.db.read(move |c| users::get_user(c, id)).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_owned();
        self.db.read(move |c| users::user_by_email(c, &email)).await
    }
    async fn verify_user_email(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        self.db
            .write(move |c| users::verify_user_email(c, user_id, at))
            .await
    }
    async fn set_user_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let hash = password_hash.to_owned();
        self.db
            .write(move |c| users::set_user_password(c, user_id, &hash, verified_at))
            .await
    }
    async fn organization_roles(&self, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>> {
        self.db
            .read(move |c| users::organization_roles(c, user_id))
            .await
    }
    async fn list_user_organizations(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<(Organization, Role)>> {
        self.db
            .read(move |c| users::list_user_organizations(c, user_id))
            .await
    }
    async fn create_organization_with_editor(
        &self,
        organization: &Organization,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let organization = organization.clone();
        self.db
            .write(move |c| users::create_organization_with_editor(c, &organization, user_id))
            .await
    }
    async fn list_members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>> {
        self.db
            .read(move |c| users::list_members(c, organization_id))
            .await
    }
    async fn add_member_within(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                within_quota(c, Quota::MembersPerOrganization, organization_id, "", limit)?;
                users::add_member(c, organization_id, user_id, role, at)
            })
            .await
    }
    async fn set_member_role(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<bool> {
        self.db
            .write(move |c| users::set_member_role(c, organization_id, user_id, role))
            .await
    }
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        self.db
            .write(move |c| users::remove_member(c, organization_id, user_id))
            .await
    }
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        let tokens = tokens.to_vec();
        self.db
            .write(move |c| tokens::insert_tokens(c, &tokens))
            .await
    }
    async fn live_token(
        &self,
        revocation_id: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let revocation_id = revocation_id.to_vec();
        self.db
            .read(move |c| tokens::live_token(c, &revocation_id, now))
            .await
    }
    async fn rotate_token(
        &self,
        old_id: Uuid,
        new: &[TokenRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let new = new.to_vec();
        self.db
            .write(move |c| tokens::rotate_token(c, old_id, &new, now))
            .await
    }
    async fn expire_session(&self, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .write(move |c| tokens::expire_session(c, session_id, at))
            .await
    }
    async fn expire_user_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .write(move |c| tokens::expire_user_sessions(c, user_id, at))
            .await
    }
    async fn expire_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| tokens::expire_other_sessions(c, user_id, keep, at))
            .await
    }
    async fn list_service_tokens(
        &self,
        organization_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>> {
        self.db
            .read(move |c| tokens::list_service_tokens(c, organization_id, now))
            .await
    }
    async fn get_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        self.db
            .read(move |c| tokens::get_service_token(c, organization_id, token_id, now))
            .await
    }
    async fn rename_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        let name = name.to_owned();
        self.db
            .write(move |c| tokens::rename_service_token(c, organization_id, token_id, &name, now))
            .await
    }
    async fn expire_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.db
            .write(move |c| tokens::expire_service_token(c, organization_id, token_id, at))
            .await
    }
    async fn purge_expired_tokens(
        &self,
        expired_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| tokens::purge_expired_tokens(c, expired_before, batch))
            .await
    }
    async fn count_expired_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .read(move |c| tokens::count_expired_tokens(c, expired_before))
            .await
    }
}
