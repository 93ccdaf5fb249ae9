//! The PostgreSQL store, for teams that run several API and worker processes on one database.
//!
//! It answers exactly as the SQLite store does: same tables, same rules, timestamps taken from
//! the application's clock and bound as parameters. What differs is concurrency: workers claim
//! batches with `FOR UPDATE SKIP LOCKED` so several processes never get the same attempt, writes
//! that must not interleave take their row locks in one order (subscriptions before attempts,
//! attempts by id) so they cannot deadlock, and new work is announced to other processes with
//! `NOTIFY` (see `wakeup`).
//!
//! Each resource's trait of [`crate::Store`] is implemented in the file holding its SQL
//! (`tenants.rs`, `events.rs`, `queue.rs`, …); this file connects, migrates and answers
//! [`Store`] itself.

mod attempts;
mod circuits;
mod claim;
mod convert;
mod dead_letters;
mod events;
mod hand_off;
mod ingest;
mod operational;
mod ordering;
mod outcomes;
mod portal;
mod queue;
mod queue_stats;
mod retention;
mod scopes;
mod signing;
mod subscriptions;
mod tenants;
mod tokens;
mod users;
mod wakeup;

#[doc(hidden)]
pub use claim::survey_query;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Executor;
use uuid::Uuid;

use crate::{PoolStats, Store, StoreOptions, StoreResult};

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
    /// The offer of this process's idle worker to its ingests.
    hand_off: std::sync::Arc<hand_off::HandOff>,
    /// Authorization lookups by application id and by application secret.
    scopes_by_application: scopes::Scopes<Uuid>,
    scopes_by_secret: scopes::Scopes<Uuid>,
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
        let (hand_off, returned) = hand_off::HandOff::new();
        tokio::spawn(hand_off::give_back_returned(
            pool.clone(),
            options.clock.clone(),
            returned,
        ));
        Ok(Self {
            wakeups: wakeup::WakeUps::new(connect, pool.clone()),
            ingester: ingest::Ingester::start(
                pool.clone(),
                options.clock.clone(),
                hand_off.clone(),
            ),
            hand_off,
            scopes_by_application: scopes::Scopes::new(),
            scopes_by_secret: scopes::Scopes::new(),
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
    /// claim until the next vacuum (the leases read went from 4 ms to linear in the run). Plans
    /// are generic: with those scans priced out a statement's plan does not depend on its
    /// parameters, yet PostgreSQL planned six of the path's statements afresh on every call
    /// (custom plans), which cost as much CPU as running them (0.48 ms per event at 200/s). A
    /// claim is not `durable`: lost in a crash, its leases leave the attempts due, delivered again (at
    /// least once), so its commit need not wait for the WAL flush.
    async fn begin_delivery(
        &self,
        durable: bool,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        begin_delivery(&self.pool, durable).await
    }

    /// Wakes this process's waiting worker at once; other processes learn of the work from the
    /// `NOTIFY` sent in the writing transaction (or, for ingest and replay, just after it).
    fn signal_work(&self) {
        self.wakeups.signal();
    }
}

/// [`PostgresStore::begin_delivery`] on `pool` (an ingest handing off runs the claim's
/// statements in its transaction).
pub(super) async fn begin_delivery(
    pool: &PgPool,
    durable: bool,
) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    // Settings ride with BEGIN: one round trip.
    Ok(pool
        .begin_with(if durable {
            "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
             SET LOCAL plan_cache_mode = force_generic_plan"
        } else {
            "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
             SET LOCAL plan_cache_mode = force_generic_plan; \
             SET LOCAL synchronous_commit = off"
        })
        .await?)
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
    fn pool_stats(&self) -> Option<PoolStats> {
        Some(self.connections())
    }
}
