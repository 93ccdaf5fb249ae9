//! An idle worker's wake-ups inside one process, the same for both backends: new work (attempts
//! became due) and delivery slots freed (deliveries finished, making nothing due). A worker that
//! a cap blocks waits for either; one that nothing due waits for, for new work only
//! ([`crate::outcome_plan::Wake`]).

use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
pub(crate) struct Waiters {
    work: Notify,
    slots: Notify,
}

impl Waiters {
    /// Attempts became due.
    pub fn work(&self) {
        self.work.notify_one();
    }

    /// Deliveries finished that made nothing due.
    pub fn slots(&self) {
        self.slots.notify_one();
    }

    /// Resolves on new work or freed slots, or after `timeout`.
    pub async fn wait(&self, timeout: Duration) {
        let either = async {
            tokio::select! {
                _ = self.work.notified() => {}
                _ = self.slots.notified() => {}
            }
        };
        let _ = tokio::time::timeout(timeout, either).await;
    }

    /// Resolves on new work only, or after `timeout`.
    pub async fn wait_new(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }
}
