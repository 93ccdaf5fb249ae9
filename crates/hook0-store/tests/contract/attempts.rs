//! Reading request attempts (filters, keyset pagination) and responses.

use std::collections::HashSet;

use hook0_core::model::*;
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

pub async fn request_attempts_are_filtered(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let both = t.subscribe(store, &[TYPE, OTHER_TYPE], &[]).await;
    let paid = t.subscribe(store, &[TYPE], &[]).await;
    let first = t.ingest(store, TYPE, &[]).await;
    let second = t.ingest(store, OTHER_TYPE, &[]).await;
    let other = Tenant::create(store).await;
    other.subscribe(store, &[TYPE], &[]).await;
    other.ingest(store, TYPE, &[]).await;

    let count = |filter: fn(&mut hook0_store::AttemptFilter)| {
        let t = &t;
        async move { t.attempts_where(store, filter).await.len() }
    };
    assert_eq!(count(|_| {}).await, 3);
    assert_eq!(
        t.attempts_where(store, |f| f.event_id = Some(first.id))
            .await
            .len(),
        2
    );
    assert_eq!(
        t.attempts_where(store, |f| f.event_id = Some(second.id))
            .await
            .len(),
        1
    );
    assert_eq!(
        t.attempts_where(store, |f| f.subscription_id = Some(paid.id))
            .await
            .len(),
        1
    );
    assert_eq!(
        t.attempts_where(store, |f| f.subscription_id = Some(both.id))
            .await
            .len(),
        2
    );
    let narrowed = t
        .attempts_where(store, |f| {
            f.event_id = Some(first.id);
            f.subscription_id = Some(both.id);
        })
        .await;
    assert_eq!(narrowed.len(), 1);
    assert_eq!(
        (narrowed[0].event_id, narrowed[0].subscription_id),
        (first.id, both.id)
    );

    assert_eq!(
        count(|f| f.event_type_names = Some(vec![OTHER_TYPE.into()])).await,
        1
    );
    assert_eq!(
        count(|f| f.event_type_names = Some(vec![OTHER_TYPE.into(), TYPE.into()])).await,
        3
    );
    assert_eq!(
        count(|f| f.event_type_names = Some(vec!["no.such.type".into()])).await,
        0
    );
    assert_eq!(count(|f| f.event_type_names = Some(vec![])).await, 3);

    // Creation-time bounds are inclusive.
    let at_second = t
        .attempts_where(store, |f| f.min_created_at = Some(second.received_at))
        .await;
    assert_eq!(at_second.len(), 1);
    assert_eq!(at_second[0].event_id, second.id);
    assert_eq!(
        t.attempts_where(store, |f| f.max_created_at = Some(first.received_at))
            .await
            .len(),
        2
    );
    let window = t
        .attempts_where(store, |f| {
            f.min_created_at = Some(first.received_at);
            f.max_created_at = Some(second.received_at);
        })
        .await;
    assert_eq!(window.len(), 3);

    let newest = t.attempts_where(store, |f| f.limit = 1).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].event_id, second.id);
    let unknown = hook0_store::AttemptFilter {
        application_id: Uuid::new_v4(),
        limit: 50,
        ..Default::default()
    };
    assert!(store
        .list_request_attempts(&unknown)
        .await
        .unwrap()
        .is_empty());
}

pub async fn request_attempts_paginate_by_keyset(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    for _ in 0..3 {
        t.subscribe(store, &[TYPE], &[]).await;
    }
    for _ in 0..3 {
        t.ingest(store, TYPE, &[]).await;
    }
    // Three attempts share each creation time: the id breaks the tie.
    let all = t.attempts(store).await;
    assert_eq!(all.len(), 9);
    let keys: Vec<_> = all.iter().map(|a| (a.created_at, a.id)).collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "newest first, by (created_at, id)");

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = t
            .attempts_where(store, |f| {
                f.limit = 4;
                f.before = before;
            })
            .await;
        if page.is_empty() {
            break;
        }
        before = page.last().map(|a| (a.created_at, a.id));
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 1]);
    let paged: Vec<RequestAttempt> = pages.into_iter().flatten().collect();
    assert_eq!(paged, all);
    let ids: HashSet<Uuid> = paged.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 9);
}

pub async fn attempt_and_response_read_back_after_outcome(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let jobs = claim_all(store).await;
    assert_eq!(jobs.len(), 2);

    let failed = outcome(&jobs[0], false, None);
    let mut succeeded = outcome(&jobs[1], true, None);
    succeeded.response.headers = None;
    succeeded.response.body = None;
    succeeded.response.http_code = Some(204);
    record(store, &[failed.clone(), succeeded.clone()]).await;

    let attempt = store
        .get_request_attempt(t.app.id, jobs[0].attempt.attempt_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.failed_at, Some(failed.completed_at));
    assert_eq!(attempt.succeeded_at, None);
    assert!(attempt.picked_at.is_some());
    assert_eq!(attempt.response_id, Some(failed.response.id));
    assert_eq!(attempt.http_response_status, Some(503));
    assert_eq!(
        store
            .get_response(t.app.id, failed.response.id)
            .await
            .unwrap(),
        Some(failed.response.clone())
    );

    let attempt = store
        .get_request_attempt(t.app.id, jobs[1].attempt.attempt_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.succeeded_at, Some(succeeded.completed_at));
    assert_eq!(attempt.failed_at, None);
    assert_eq!(attempt.http_response_status, Some(204));
    assert_eq!(
        store
            .get_response(t.app.id, succeeded.response.id)
            .await
            .unwrap(),
        Some(succeeded.response.clone())
    );

    let listed = t.attempts(store).await;
    assert!(listed.contains(&attempt));

    let stranger = Uuid::new_v4();
    assert_eq!(
        store
            .get_request_attempt(stranger, attempt.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_request_attempt(t.app.id, Uuid::new_v4())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_response(stranger, failed.response.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_response(t.app.id, Uuid::new_v4()).await.unwrap(),
        None
    );
}

pub async fn request_attempts_are_filtered_by_status(db: &TestDb) {
    use hook0_core::model::AttemptStatusFilter as S;
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let delivered = t.ingest(store, TYPE, &[]).await;
    let failing = t.ingest(store, TYPE, &[]).await;
    let jobs = claim_all(store).await;
    let job = |event: &Event| {
        jobs.iter()
            .find(|j| j.attempt.event_id == event.id)
            .unwrap()
    };
    let retry_at = now() + chrono::TimeDelta::hours(1);
    record(
        store,
        &[
            outcome(job(&delivered), true, None),
            outcome(job(&failing), false, Some(retry_at)),
        ],
    )
    .await;
    let in_flight = t.ingest(store, TYPE, &[]).await;
    assert_eq!(claim_all(store).await.len(), 1);
    let pending = t.ingest(store, TYPE, &[]).await;

    let with = |statuses: Vec<S>| {
        let t = &t;
        async move {
            let mut found: Vec<(Uuid, i32)> = t
                .attempts_where(store, |f| {
                    f.statuses = statuses;
                    f.now = now();
                })
                .await
                .iter()
                .map(|a| (a.event_id, a.retry_count))
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(with(vec![S::Successful]).await, [(delivered.id, 0)]);
    assert_eq!(with(vec![S::Failed]).await, [(failing.id, 0)]);
    assert_eq!(with(vec![S::Waiting]).await, [(failing.id, 1)]);
    assert_eq!(with(vec![S::InProgress]).await, [(in_flight.id, 0)]);
    assert_eq!(with(vec![S::Pending]).await, [(pending.id, 0)]);
    assert_eq!(with(vec![S::DeadLetter]).await, []);
    let mut either = vec![(delivered.id, 0), (pending.id, 0)];
    either.sort();
    assert_eq!(with(vec![S::Successful, S::Pending]).await, either);
    assert_eq!(with(vec![]).await.len(), 5);
}

pub async fn delivery_outcomes_are_counted_per_day(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let ok = t.ingest(store, TYPE, &[]).await;
    let ko = t.ingest(store, TYPE, &[]).await;
    let jobs = claim_all(store).await;
    let job = |event: &Event| {
        jobs.iter()
            .find(|j| j.attempt.event_id == event.id)
            .unwrap()
    };
    record(
        store,
        &[
            outcome(job(&ok), true, None),
            outcome(job(&ko), false, None),
        ],
    )
    .await;
    t.ingest(store, TYPE, &[]).await; // still open
    let other = Tenant::create(store).await;
    other.subscribe(store, &[TYPE], &[]).await;
    other.ingest(store, TYPE, &[]).await;

    let today = now().date_naive();
    let days = store
        .delivery_outcomes_per_day(t.app.id, today - chrono::TimeDelta::days(29), today)
        .await
        .unwrap();
    assert_eq!(
        days,
        [hook0_store::DailyOutcomes {
            date: today,
            succeeded: 1,
            failed: 1,
            open: 1
        }]
    );
    let yesterday = today - chrono::TimeDelta::days(1);
    assert!(store
        .delivery_outcomes_per_day(t.app.id, yesterday, yesterday)
        .await
        .unwrap()
        .is_empty());
}
