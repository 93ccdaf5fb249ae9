//! What the tests of every crate share: one loopback webhook [`Receiver`] (the API, worker and
//! binary tests all deliver to it) and one poller ([`wait_for`], [`eventually`]), so the way a
//! test waits for a delivery is written once.

mod receiver;

pub use receiver::{Received, Receiver, Reply};

use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits: long enough for a loaded CI machine, short enough that a
/// broken test fails in reasonable time.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `probe` every 20 ms until it yields a value; panics after `timeout`.
pub async fn wait_for<T, F, Fut>(probe: F, timeout: Duration) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_until("the condition", timeout, probe).await
}

/// [`wait_for`] with the usual [`PATIENCE`].
pub async fn eventually<T, F, Fut>(probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for(probe, PATIENCE).await
}

/// Polls `probe` every 20 ms until it yields a value; after `timeout`, panics naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "not within {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
