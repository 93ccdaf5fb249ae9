//! Wake-ups for idle workers. Every transaction that makes attempts due (retry, release,
//! redelivery) sends `NOTIFY hook0_work`, which PostgreSQL delivers to listeners when it commits;
//! a worker in another process therefore picks a new event within milliseconds instead of at its
//! next poll. A worker in the writing process is woken at once through `Waiters` (`waiters.rs`).
//!
//! Ingest and replay, the hot path, announce after their commit instead ([`WakeUps::announce`]):
//! a `NOTIFY` holds PostgreSQL's notification-queue lock from the commit until it is queued, so
//! one in every ingest transaction serialized all ingest commits (seen as `Lock:object` waits in
//! `pg_stat_activity`) and defeated the server's group commit. A background task sends one
//! `NOTIFY` for however many ingests committed while the previous one was being sent. A process
//! dying between an ingest's commit and that `NOTIFY` only delays other processes' workers to
//! their next poll: the attempts are committed.
//!
//! A `NOTIFY` is a transaction of its own, so the announcer sends it only while another
//! process listens: each listener connection is named `hook0-listener-<instance>`, and the
//! announcer looks for another such name in `pg_stat_activity` (an answer kept for
//! [`OTHERS_FOUND_FOR`], or [`NONE_FOUND_FOR`] when there was none). A single `hook0 serve`
//! thus sends none; its waiter is woken in-process. A listener that has just started wakes its
//! waiter once more after [`SETTLED_AFTER`], for work whose announcement was skipped while the
//! other processes had not seen it yet.
//!
//! The listener is one background task per store, started by the first `wait_for_work` (an
//! API-only process never listens), that turns notifications into wake-ups of `Waiters`. Reading
//! notifications continuously keeps PostgreSQL's notification queue drained while the worker is
//! busy. A lost connection wakes the worker (notifications may have been missed) and is
//! re-established by the task; while it is down, waiting degrades to sleeping the timeout.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::waiters::Waiters;
use crate::StoreResult;

/// The channel work is announced on.
pub(super) const CHANNEL: &str = "hook0_work";

/// Pause before reconnecting a listener whose connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// How long the announcer trusts having seen another process's listener.
const OTHERS_FOUND_FOR: Duration = Duration::from_secs(1);
/// How long it trusts having seen none.
const NONE_FOUND_FOR: Duration = Duration::from_millis(100);
/// When a new listener wakes its waiter again: after every other process has looked again.
const SETTLED_AFTER: Duration = Duration::from_millis(250);
/// Prefix of the `application_name` of listener connections.
const LISTENER_NAME: &str = "hook0-listener-";

pub(super) struct WakeUps {
    /// This process's waiting worker: new work (from this process or, relayed by the
    /// listener, another) and delivery slots freed in this process.
    local: Arc<Waiters>,
    connect: PgConnectOptions,
    listener: OnceLock<JoinHandle<()>>,
    /// Pool the announcer sends its `NOTIFY` through.
    pool: PgPool,
    /// A permit means committed work not yet announced to other processes.
    unannounced: Arc<Notify>,
    announcer: OnceLock<JoinHandle<()>>,
    /// The payload of this process's announcements: its own listener ignores them, since
    /// [`WakeUps::announce`] already woke the local waiter (an echo would cost an empty claim).
    instance: Arc<str>,
}

impl WakeUps {
    pub fn new(connect: PgConnectOptions, pool: PgPool) -> Self {
        Self {
            local: Arc::default(),
            connect,
            listener: OnceLock::new(),
            pool,
            unannounced: Arc::new(Notify::new()),
            announcer: OnceLock::new(),
            instance: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// Wakes a waiter of this process.
    pub fn signal(&self) {
        self.local.work();
    }

    /// Committed work: wakes a waiter of this process now and tells the other processes with
    /// the next `NOTIFY` of the announcer (many announcements, one `NOTIFY`).
    pub fn announce(&self) {
        self.local.work();
        self.tell_others();
    }

    /// Finished deliveries that made nothing due: wakes a waiter of this process only if it
    /// waits for slots ([`WakeUps::wait`]); other processes are told as for work (their
    /// workers may be blocked by a cap of the same subscription).
    pub fn announce_slots(&self) {
        self.local.slots();
        self.tell_others();
    }

    fn tell_others(&self) {
        self.announcer.get_or_init(|| {
            tokio::spawn(announce(
                self.pool.clone(),
                self.unannounced.clone(),
                self.instance.clone(),
            ))
        });
        self.unannounced.notify_one();
    }

    /// Resolves on the next wake-up from this process or another (freed slots included), or
    /// after `timeout`.
    pub async fn wait(&self, timeout: Duration) {
        self.listen();
        self.local.wait(timeout).await;
    }

    /// Like [`WakeUps::wait`], but not woken by freed slots alone.
    pub async fn wait_new(&self, timeout: Duration) {
        self.listen();
        self.local.wait_new(timeout).await;
    }

    fn listen(&self) {
        self.listener.get_or_init(|| {
            tokio::spawn(listen(
                self.connect.clone(),
                self.local.clone(),
                self.instance.clone(),
            ))
        });
    }
}

impl Drop for WakeUps {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get() {
            task.abort();
        }
        if let Some(task) = self.announcer.get() {
            task.abort();
        }
    }
}

/// Announces new work to every listening process; delivered when the transaction commits.
pub(super) async fn notify_work(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sends one `NOTIFY` per wake of `unannounced`, each in a transaction of its own, while
/// another process listens, until aborted. A failure is logged at debug level: listeners find
/// the work at their next poll.
async fn announce(pool: PgPool, unannounced: Arc<Notify>, instance: Arc<str>) {
    let own_listener = format!("{LISTENER_NAME}{instance}");
    // Whether another process listens, and until when that answer holds.
    let mut others: Option<(bool, Instant)> = None;
    loop {
        unannounced.notified().await;
        let now = Instant::now();
        let listening = match others {
            Some((listening, until)) if now < until => listening,
            _ => {
                let found = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                     WHERE datname = current_database() AND application_name LIKE $1
                       AND application_name <> $2)",
                )
                .bind(format!("{LISTENER_NAME}%"))
                .bind(&own_listener)
                .fetch_one(&pool)
                .await
                // Unknown: announce, as before this check existed.
                .unwrap_or(true);
                let lasts = if found {
                    OTHERS_FOUND_FOR
                } else {
                    NONE_FOUND_FOR
                };
                others = Some((found, now + lasts));
                found
            }
        };
        if !listening {
            continue;
        }
        if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&*instance)
            .execute(&pool)
            .await
        {
            tracing::debug!(%error, "could not announce new work; other workers find it at their next poll");
        }
    }
}

/// Relays notifications to `local` until aborted, reconnecting after failures. Uses a pool of its
/// own, so the listening connection never takes a slot from queries.
async fn listen(connect: PgConnectOptions, local: Arc<Waiters>, instance: Arc<str>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_lazy_with(connect.application_name(&format!("{LISTENER_NAME}{instance}")));
    // Set once the listener has failed: warn on the first failure only, and on recovery wake the
    // worker for work announced while nobody listened.
    let mut failed = false;
    loop {
        let mut listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                if !failed {
                    tracing::warn!(%error, "cannot listen for work notifications; polling");
                }
                failed = true;
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        if failed {
            tracing::info!("listening for work notifications again");
            local.work();
        }
        let settled = local.clone();
        let settling = tokio::spawn(async move {
            tokio::time::sleep(SETTLED_AFTER).await;
            settled.work();
        });
        let error = loop {
            match listener.try_recv().await {
                // `None`: the connection was lost and re-established; notifications in between
                // may be gone, so look for work now.
                Ok(Some(echo)) if echo.payload() == &*instance => {}
                Ok(_) => local.work(),
                Err(error) => break error,
            }
        };
        settling.abort();
        tracing::warn!(%error, "lost the work notification listener; reconnecting");
        failed = true;
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn subscribe(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
