//! `wait_for_work`: woken by new work in this process, otherwise sleeping its timeout.

use std::time::{Duration, Instant};

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
