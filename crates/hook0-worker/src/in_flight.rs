//! The deliveries currently running, with the attempt each one holds a lease on, so that a
//! shutdown can tell which attempts it cut short and hand them back to the queue, and with its
//! priority class, so that the dispatcher can keep the reserved slots of each class free, and
//! with its subscription and start, so that it can tell which endpoints are slow.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::{Id, JoinError, JoinSet};
use uuid::Uuid;

use crate::pace::Running;

#[derive(Default)]
pub(crate) struct InFlight {
    tasks: JoinSet<()>,
    /// Each running task's attempt, priority class (high = true), subscription and start.
    attempts: HashMap<Id, (Uuid, bool, Running)>,
    high_priority: usize,
}

impl InFlight {
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Running deliveries of high-priority attempts.
    pub(crate) fn high_priority(&self) -> usize {
        self.high_priority
    }

    /// Running deliveries of low-priority attempts (retries).
    pub(crate) fn low_priority(&self) -> usize {
        self.attempts.len() - self.high_priority
    }

    /// Each running delivery's subscription and start.
    pub(crate) fn running(&self) -> impl Iterator<Item = &Running> {
        self.attempts.values().map(|(_, _, running)| running)
    }

    pub(crate) fn spawn<F>(
        &mut self,
        attempt_id: Uuid,
        subscription_id: Uuid,
        high_priority: bool,
        delivery: F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tasks.spawn(delivery);
        let running = Running {
            subscription_id,
            started: Instant::now(),
        };
        self.attempts
            .insert(handle.id(), (attempt_id, high_priority, running));
        self.high_priority += usize::from(high_priority);
    }

    fn forget(&mut self, id: Id) -> Option<Uuid> {
        let (attempt_id, high_priority, _) = self.attempts.remove(&id)?;
        self.high_priority -= usize::from(high_priority);
        Some(attempt_id)
    }

    /// Forgets the deliveries that have finished, without waiting.
    pub(crate) fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.finished(done);
        }
    }

    /// Waits for one delivery to finish (forever when none runs).
    pub(crate) async fn join_one(&mut self) {
        match self.tasks.join_next_with_id().await {
            Some(done) => {
                self.finished(done);
            }
            None => std::future::pending().await,
        }
    }

    /// Lets running deliveries finish for up to `grace`, cancels the rest, and returns the
    /// attempts of the cancelled ones.
    pub(crate) async fn finish(mut self, grace: Duration) -> Vec<Uuid> {
        let all_done = async {
            while let Some(done) = self.tasks.join_next_with_id().await {
                self.finished(done);
            }
        };
        if tokio::time::timeout(grace, all_done).await.is_ok() {
            return Vec::new();
        }
        self.tasks.abort_all();
        let mut cut_short = Vec::new();
        while let Some(done) = self.tasks.join_next_with_id().await {
            if let Some(attempt_id) = self.finished(done) {
                cut_short.push(attempt_id);
            }
        }
        cut_short
    }

    /// Removes a finished task; returns its attempt when it was cancelled before reporting.
    fn finished(&mut self, done: Result<(Id, ()), JoinError>) -> Option<Uuid> {
        match done {
            Ok((id, ())) => {
                self.forget(id);
                None
            }
            Err(error) => {
                let attempt_id = self.forget(error.id());
                if error.is_cancelled() {
                    attempt_id
                } else {
                    // The lease runs out and the attempt is delivered again: a panic costs a
                    // lease-long delay, never the attempt.
                    tracing::error!(?attempt_id, %error, "delivery task panicked");
                    None
                }
            }
        }
    }
}
