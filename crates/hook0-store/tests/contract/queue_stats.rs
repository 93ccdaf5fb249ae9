//! `queue_stats`, behind the queue gauges of `/metrics` and the worker lag of `/health`: pending
//! attempts counted as due, delayed or in flight, and the oldest due one.

use std::time::Duration;

use chrono::TimeDelta;
use hook0_core::model::now;

use crate::fixtures::*;
use crate::TestDb;

pub async fn queue_stats_count_due_delayed_and_in_flight(db: &TestDb) {
    let store = &*db.store;
    let empty = store.queue_stats().await.unwrap();
    assert_eq!(
        (
            empty.due,
            empty.delayed,
            empty.in_flight,
            empty.oldest_due_at
        ),
        (0, 0, 0, None)
    );
    assert_eq!(empty.oldest_due_age(), Duration::ZERO);

    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let before = now();
    for _ in 0..3 {
        t.ingest(store, TYPE, &[]).await;
    }
    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.due, stats.delayed, stats.in_flight), (3, 0, 0));
    let oldest = stats.oldest_due_at.expect("an attempt is due");
    assert!(
        oldest >= before - TimeDelta::seconds(5) && oldest <= stats.at,
        "{oldest} vs {}",
        stats.at
    );

    // Claimed: in flight while its lease runs.
    let job = claim(store, "test", 1, LONG_LEASE).await.remove(0);
    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.due, stats.delayed, stats.in_flight), (2, 0, 1));

    // Failed with a retry in ten minutes: that retry is delayed.
    let failed = outcome(&job, false, Some(now() + TimeDelta::minutes(10)));
    record(store, &[failed]).await;
    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.due, stats.delayed, stats.in_flight), (2, 1, 0));

    // Delivered: only the delayed retry is left, and nothing is due.
    for job in claim_all(store).await {
        record(store, &[outcome(&job, true, None)]).await;
    }
    let stats = store.queue_stats().await.unwrap();
    assert_eq!(
        (
            stats.due,
            stats.delayed,
            stats.in_flight,
            stats.oldest_due_at
        ),
        (0, 1, 0, None)
    );
    assert_eq!(stats.oldest_due_age(), Duration::ZERO);
}
