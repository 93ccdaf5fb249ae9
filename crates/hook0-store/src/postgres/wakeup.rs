//! Wake-ups for idle workers. Every transaction that makes attempts due (ingest, replay, retry,
//! release) sends `NOTIFY hook0_work`, which PostgreSQL delivers to listeners when it commits; a
//! worker in another process therefore picks a new event within milliseconds instead of at its
//! next poll. A worker in the writing process is woken at once through an in-process [`Notify`].
//!
//! The listener is one background task per store, started by the first `wait_for_work` (an
//! API-only process never listens), that turns notifications into [`Notify`] permits. Reading
//! notifications continuously keeps PostgreSQL's notification queue drained while the worker is
//! busy. A lost connection wakes the worker (notifications may have been missed) and is
//! re-established by the task; while it is down, waiting degrades to sleeping the timeout.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::StoreResult;

/// The channel work is announced on.
pub(super) const CHANNEL: &str = "hook0_work";

/// Pause before reconnecting a listener whose connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

pub(super) struct WakeUps {
    local: Arc<Notify>,
    connect: PgConnectOptions,
    listener: OnceLock<JoinHandle<()>>,
}

impl WakeUps {
    pub fn new(connect: PgConnectOptions) -> Self {
        Self {
            local: Arc::new(Notify::new()),
            connect,
            listener: OnceLock::new(),
        }
    }

    /// Wakes a waiter of this process.
    pub fn signal(&self) {
        self.local.notify_one();
    }

    /// Resolves on the next wake-up from this process or another, or after `timeout`.
    pub async fn wait(&self, timeout: Duration) {
        self.listener
            .get_or_init(|| tokio::spawn(listen(self.connect.clone(), self.local.clone())));
        let _ = tokio::time::timeout(timeout, self.local.notified()).await;
    }
}

impl Drop for WakeUps {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get() {
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

/// Relays notifications to `local` until aborted, reconnecting after failures. Uses a pool of its
/// own, so the listening connection never takes a slot from queries.
async fn listen(connect: PgConnectOptions, local: Arc<Notify>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_lazy_with(connect);
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
            local.notify_one();
        }
        let error = loop {
            match listener.try_recv().await {
                // `None`: the connection was lost and re-established; notifications in between
                // may be gone, so look for work now.
                Ok(_) => local.notify_one(),
                Err(error) => break error,
            }
        };
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
