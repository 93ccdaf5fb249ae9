//! `wait_for_work`: woken by new work in this process, otherwise sleeping its timeout.

use std::time::{Duration, Instant};

use hook0_core::model::now;

use crate::fixtures::*;
use crate::TestDb;

pub async fn ingest_wakes_a_waiting_worker(db: &TestDb) {
    let store = db.store.clone();
    let t = Tenant::create(&*store).await;
    t.subscribe(&*store, &[TYPE], &[]).await;
    // Let any wake-up left from setting up be consumed first.
    store.wait_for_work(Duration::from_millis(100)).await;

    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            store.wait_for_work(Duration::from_secs(20)).await;
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.ingest(&*store, TYPE, &[]).await;
    let waited = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the ingest woke the waiting worker")
        .unwrap();
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
}

pub async fn wait_for_work_times_out_when_idle(db: &TestDb) {
    let store = &*db.store;
    let start = Instant::now();
    store.wait_for_work(Duration::from_millis(300)).await;
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "returned after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "returned after {waited:?}");
}

/// Waits with `wait` (a store call with a 20 s timeout) while `act` runs; whether it was woken
/// within 5 s.
async fn woken_by<W, A>(wait: W, act: A) -> bool
where
    W: std::future::Future<Output = ()> + Send + 'static,
    A: std::future::Future<Output = ()>,
{
    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        wait.await;
        start.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    act.await;
    match tokio::time::timeout(Duration::from_secs(5), waiter).await {
        Ok(waited) => waited.unwrap() < Duration::from_secs(5),
        Err(_) => false,
    }
}

/// A finished delivery wakes a worker waiting for slots (one blocked by a cap); one that made
/// an attempt due (a retry row) wakes a worker waiting for new work too.
pub async fn outcomes_wake_workers_waiting_for_slots_or_new_work(db: &TestDb) {
    let store = db.store.clone();
    let t = Tenant::create(&*store).await;
    t.subscribe(&*store, &[TYPE], &[]).await;
    t.ingest(&*store, TYPE, &[]).await;
    t.ingest(&*store, TYPE, &[]).await;
    let jobs = claim_all(&*store).await;
    assert_eq!(jobs.len(), 2);
    store.wait_for_work(Duration::from_millis(100)).await;

    let waiting = store.clone();
    let success = outcome(&jobs[0], true, None);
    let recorder = store.clone();
    assert!(
        woken_by(
            async move { waiting.wait_for_work(Duration::from_secs(20)).await },
            async move { record(&*recorder, &[success]).await },
        )
        .await,
        "a freed slot wakes a worker waiting for slots"
    );

    let waiting = store.clone();
    let failure = outcome(&jobs[1], false, Some(now()));
    let recorder = store.clone();
    assert!(
        woken_by(
            async move { waiting.wait_for_new_work(Duration::from_secs(20)).await },
            async move { record(&*recorder, &[failure]).await },
        )
        .await,
        "a retry row wakes a worker waiting for new work"
    );
}
