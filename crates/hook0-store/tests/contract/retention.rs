//! Retention: events past their application's retention go with their attempts and responses;
//! events with pending attempts and events of applications keeping them longer stay.

use std::time::Duration;

use crate::fixtures::*;
use crate::TestDb;

pub async fn expired_events_go_with_their_attempts_pending_ones_stay(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let finished = t.ingest(store, TYPE, &[]).await; // no subscription: nothing pending
    t.subscribe(store, &[OTHER_TYPE], &[]).await;
    let pending = t.ingest(store, OTHER_TYPE, &[]).await;
    let delivered = t.ingest(store, OTHER_TYPE, &[]).await;
    let jobs = claim_all(store).await;
    let job = jobs
        .iter()
        .find(|j| j.attempt.event_id == delivered.id)
        .unwrap();
    let done = outcome(job, true, None);
    record(store, std::slice::from_ref(&done)).await;
    assert!(store
        .get_response(t.app.id, done.response.id)
        .await
        .unwrap()
        .is_some());
    store
        .release_attempts(&[jobs
            .iter()
            .find(|j| j.attempt.event_id == pending.id)
            .unwrap()
            .attempt
            .attempt_id])
        .await
        .unwrap();
    db.clock.advance(Duration::from_millis(5));

    // A retention of 0 days makes every event received before now expired.
    let deleted = store.purge_expired_events(0, 100).await.unwrap();
    assert_eq!(
        deleted, 2,
        "the finished and the delivered event go, the pending one stays"
    );
    assert!(store
        .get_event(t.app.id, finished.id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_event(t.app.id, delivered.id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_event(t.app.id, pending.id)
        .await
        .unwrap()
        .is_some());
    let attempts = t.attempts(store).await;
    assert!(
        attempts.iter().all(|a| a.event_id == pending.id),
        "attempts of deleted events are gone"
    );
    assert!(
        store
            .get_response(t.app.id, done.response.id)
            .await
            .unwrap()
            .is_none(),
        "responses go too"
    );
    assert_eq!(store.purge_expired_events(0, 100).await.unwrap(), 0);
}

pub async fn an_application_retention_overrides_the_default(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let kept = t.ingest(store, TYPE, &[]).await;
    store
        .update_application(t.app.id, t.org.id, "Billing", Some(365))
        .await
        .unwrap();
    db.clock.advance(Duration::from_millis(5));
    assert_eq!(store.purge_expired_events(0, 100).await.unwrap(), 0);
    assert!(store.get_event(t.app.id, kept.id).await.unwrap().is_some());
    let app = store.get_application(t.app.id).await.unwrap().unwrap();
    assert_eq!(app.retention_days, Some(365));
}

pub async fn purging_works_in_batches(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    for _ in 0..7 {
        t.ingest(store, TYPE, &[]).await;
    }
    // Kept one day: nothing is old enough until the clock has moved two days on.
    assert_eq!(store.purge_expired_events(1, 3).await.unwrap(), 0);
    db.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(store.purge_expired_events(1, 3).await.unwrap(), 3);
    assert_eq!(store.purge_expired_events(1, 3).await.unwrap(), 3);
    assert_eq!(store.purge_expired_events(1, 3).await.unwrap(), 1);
}
