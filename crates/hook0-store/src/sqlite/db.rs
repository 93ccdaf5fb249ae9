//! The threads that own the SQLite connections.
//!
//! One writer thread owns the only read-write connection. Writes are closures sent to it; it
//! takes every closure queued at that moment, runs them in ONE transaction (each under its own
//! savepoint, so a failing closure rolls back only itself), commits once, and only then answers
//! each caller. That is group commit: one fsync covers a whole batch of concurrent ingests,
//! claims and outcome writes, while every answer still comes after its data is on disk.
//!
//! A batch holding only claims ([`Db::write_lease`]) commits without the fsync
//! (`synchronous=NORMAL`): a claim only leases attempts, and a lease lost in a power failure
//! leaves its attempts due again, delivered once more (at least once); a process crash loses
//! nothing, the commit being in the WAL file already. The next durable commit's fsync covers
//! those frames too. At a low rate this halves the fsyncs per delivered event.
//!
//! Before each commit the writer runs the store's `before_commit` hook, in the same
//! transaction: writes that only add to a counter (the daily event counts) accumulate in memory
//! during the batch and are written there once, instead of once per write.
//!
//! Reads run on a few reader threads with read-only connections (WAL lets them proceed while
//! the writer commits). Running whole closures on these threads costs one thread hop per
//! operation, not one per statement and row.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{StoreError, StoreResult};

/// Most closures committed in one transaction.
const MAX_BATCH: usize = 1024;

/// A write: runs on the writer thread (or is told the transaction could not start), says
/// whether it succeeded (to keep or roll back its savepoint), and returns the function that
/// answers its caller once the commit is known.
type WriteFn = Box<dyn FnOnce(Result<&Connection, StoreError>) -> (bool, Answer) + Send>;

struct WriteJob {
    run: WriteFn,
    /// Its commit must be on disk before its caller is answered.
    durable: bool,
}
type Answer = Box<dyn FnOnce(Option<StoreError>) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Runs in every write transaction just before its commit; its failure fails the whole batch.
pub type BeforeCommit = fn(&Connection) -> StoreResult<()>;

pub struct Db {
    writer: mpsc::Sender<WriteJob>,
    readers: mpsc::Sender<ReadJob>,
}

impl Db {
    /// Starts the writer thread on `writer` and `readers.len()` reader threads.
    pub fn start(
        writer: Connection,
        readers: Vec<Connection>,
        before_commit: BeforeCommit,
    ) -> Self {
        let (write_tx, write_rx) = mpsc::channel::<WriteJob>();
        thread::Builder::new()
            .name("hook0-sqlite-writer".into())
            .spawn(move || write_loop(writer, write_rx, before_commit))
            .expect("can spawn the SQLite writer thread");
        let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for (i, conn) in readers.into_iter().enumerate() {
            let queue = read_rx.clone();
            thread::Builder::new()
                .name(format!("hook0-sqlite-reader-{i}"))
                .spawn(move || loop {
                    let job = { queue.lock().expect("reader queue lock").recv() };
                    match job {
                        Ok(job) => job(&conn),
                        Err(_) => return,
                    }
                })
                .expect("can spawn a SQLite reader thread");
        }
        Self {
            writer: write_tx,
            readers: read_tx,
        }
    }

    /// Runs `f` in the next write transaction and answers after it committed, on disk.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.write_as(true, f).await
    }

    /// [`Db::write`] for a claim, whose commit need not wait for the fsync (see the module
    /// documentation).
    pub async fn write_lease<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.write_as(false, f).await
    }

    async fn write_as<T, F>(&self, durable: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run: WriteFn = Box::new(move |conn| {
            let result = conn.and_then(f);
            let ok = result.is_ok();
            let answer = move |commit_error: Option<StoreError>| {
                let _ = reply.send(match commit_error {
                    None => result,
                    Some(e) => Err(e),
                });
            };
            (ok, Box::new(answer))
        });
        self.writer
            .send(WriteJob { run, durable })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `f` on a reader connection.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.readers.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite threads stopped".into())
}

fn write_loop(conn: Connection, jobs: mpsc::Receiver<WriteJob>, before_commit: BeforeCommit) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The connection is opened with `synchronous = FULL`.
    let mut synchronous_full = true;
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let durable = batch.iter().any(|job| job.durable);
        if durable != synchronous_full {
            let pragma = if durable {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            match conn.execute_batch(pragma) {
                Ok(()) => synchronous_full = durable,
                // Still FULL when it cannot be lowered; a failure to raise it must not let
                // a durable batch commit without its fsync.
                Err(error) if durable => {
                    tracing::error!(%error, "cannot restore synchronous = FULL; failing the batch");
                    let error = StoreError::from(error);
                    for job in batch.drain(..) {
                        (job.run)(Err(error.clone())).1(None);
                    }
                    continue;
                }
                Err(error) => tracing::warn!(%error, "cannot relax synchronous for a claim batch"),
            }
        }
        let answers = run_batch(&conn, &mut batch, before_commit);
        for (answer, error) in answers {
            answer(error);
        }
    }
}

/// Runs the batch in one transaction; pairs each answer with the error it must report, if any.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<WriteJob>,
    before_commit: BeforeCommit,
) -> Vec<(Answer, Option<StoreError>)> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = StoreError::from(e);
        return batch
            .drain(..)
            .map(|job| ((job.run)(Err(error.clone())).1, None))
            .collect();
    }
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        let savepoint = conn.execute_batch("SAVEPOINT job");
        let (ok, answer) = (job.run)(Ok(conn));
        if savepoint.is_ok() {
            let end = if ok {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            if let Err(e) = conn.execute_batch(end) {
                tracing::error!(error = %e, "SQLite savepoint handling failed");
            }
        }
        answers.push(answer);
    }
    let commit_error = match before_commit(conn) {
        Ok(()) => conn.execute_batch("COMMIT").err().map(StoreError::from),
        Err(error) => Some(error),
    };
    if let Some(error) = &commit_error {
        tracing::error!(%error, "SQLite commit failed; the whole batch is rolled back");
        let _ = conn.execute_batch("ROLLBACK");
    }
    answers
        .into_iter()
        .map(|answer| (answer, commit_error.clone()))
        .collect()
}
