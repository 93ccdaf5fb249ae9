//! Events per day: counted per application and UTC day at ingest (the caller's clock decides
//! the day), kept when retention deletes the events, and the daily quota exact under
//! concurrent ingests.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::quota::Quota;
use hook0_store::{DailyScope, Store, StoreError};

use crate::fixtures::*;
use crate::TestDb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn ingest_at(store: &dyn Store, app: uuid::Uuid, when: &str) {
    let mut e = event(app, TYPE, &[]);
    e.received_at = at(when);
    store.ingest_event(&e).await.unwrap();
}

fn amounts(days: &[hook0_store::DailyEvents]) -> Vec<(String, String, i64)> {
    days.iter()
        .map(|d| (d.date.to_string(), d.application_name.clone(), d.amount))
        .collect()
}

pub async fn counts_per_day_across_midnight_and_after_retention(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let (other, other_secret) = application(t.org.id, "Shipping");
    store
        .create_application(&other, &other_secret)
        .await
        .unwrap();
    store
        .upsert_event_type(&event_type(other.id, TYPE))
        .await
        .unwrap();

    ingest_at(store, t.app.id, "2026-03-01T23:59:59.999Z").await;
    ingest_at(store, t.app.id, "2026-03-01T12:00:00Z").await;
    ingest_at(store, t.app.id, "2026-03-02T00:00:00Z").await;
    ingest_at(store, other.id, "2026-03-02T08:00:00Z").await;
    ingest_at(store, other.id, "2026-03-04T08:00:00Z").await;

    let app_days = store
        .events_per_day(
            DailyScope::Application(t.app.id),
            day("2026-03-01"),
            day("2026-03-03"),
        )
        .await
        .unwrap();
    assert_eq!(
        amounts(&app_days),
        [
            ("2026-03-01".into(), "Billing".into(), 2),
            ("2026-03-02".into(), "Billing".into(), 1)
        ]
    );
    assert!(app_days.iter().all(|d| d.application_id == t.app.id));

    let org_days = store
        .events_per_day(
            DailyScope::Organization(t.org.id),
            day("2026-03-02"),
            day("2026-03-04"),
        )
        .await
        .unwrap();
    assert_eq!(
        amounts(&org_days),
        [
            ("2026-03-02".into(), "Billing".into(), 1),
            ("2026-03-02".into(), "Shipping".into(), 1),
            ("2026-03-04".into(), "Shipping".into(), 1)
        ]
    );

    // Retention deletes the events; the counts stay.
    let deleted = store.purge_expired_events(0, 100).await.unwrap();
    assert_eq!(deleted, 5);
    let after = store
        .events_per_day(
            DailyScope::Organization(t.org.id),
            day("2026-03-01"),
            day("2026-03-04"),
        )
        .await
        .unwrap();
    assert_eq!(after.iter().map(|d| d.amount).sum::<i64>(), 5);

    // Another organization sees none of it.
    let stranger = Tenant::create(store).await;
    assert!(store
        .events_per_day(
            DailyScope::Organization(stranger.org.id),
            day("2026-03-01"),
            day("2026-03-04")
        )
        .await
        .unwrap()
        .is_empty());
    // `application_usage` reads today's count from the same place.
    let usage = store
        .application_usage(other.id, at("2026-03-04T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(usage.events_since, 1);
}

pub async fn the_daily_quota_never_overshoots_under_concurrent_ingests(db: &TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let t = Tenant::create(&*store).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let store = store.clone();
        let mut e = event(t.app.id, TYPE, &[]);
        e.received_at = at("2026-05-10T10:00:00Z");
        tasks.spawn(async move { store.ingest_event_within(&e, Some(7)).await });
    }
    let (mut accepted, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => accepted += 1,
            Err(StoreError::QuotaReached(Quota::EventsPerDay)) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((accepted, refused), (7, 33));
    let days = store
        .events_per_day(
            DailyScope::Application(t.app.id),
            day("2026-05-10"),
            day("2026-05-10"),
        )
        .await
        .unwrap();
    assert_eq!(days[0].amount, 7, "refused events are not counted");
    assert_eq!(store.list_events(t.app.id, 100).await.unwrap().len(), 7);

    // The next day starts afresh; a refused duplicate id does not spend the quota either.
    let mut e = event(t.app.id, TYPE, &[]);
    e.received_at = at("2026-05-11T00:00:01Z");
    store.ingest_event_within(&e, Some(1)).await.unwrap();
    assert!(matches!(
        store.ingest_event_within(&e, Some(5)).await,
        Err(StoreError::EventAlreadyIngested)
    ));
    let mut e = event(t.app.id, TYPE, &[]);
    e.received_at = at("2026-05-11T09:00:00Z");
    assert!(matches!(
        store.ingest_event_within(&e, Some(1)).await,
        Err(StoreError::QuotaReached(Quota::EventsPerDay))
    ));
    // Without a limit nothing is refused.
    store.ingest_event(&e).await.unwrap();
}
