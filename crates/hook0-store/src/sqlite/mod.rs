//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk before the API acknowledges it.
//!
//! SQLite allows one writer at a time, so every write runs on one writer thread that commits
//! whatever is queued in a single transaction (group commit, see `db.rs`); reads run on a few
//! reader threads. Being single-process, the queue's wake-ups are in-process (`waiters.rs`).
//!
//! Each resource's trait of [`crate::Store`] is implemented in the file holding its SQL
//! (`tenants.rs`, `events.rs`, `queue.rs`, …); this file opens the database and answers
//! [`Store`] itself.

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

use std::path::Path;
use std::time::Duration;

use crate::waiters::Waiters;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use crate::quota_check;
use crate::{Store, StoreError, StoreOptions, StoreResult};
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
    /// The waiting worker's wake-ups (single process: in-process only).
    waiters: Waiters,
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
            waiters: Waiters::default(),
            clock: options.clock.clone(),
        })
    }

    fn signal_work(&self) {
        self.waiters.work();
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
}
