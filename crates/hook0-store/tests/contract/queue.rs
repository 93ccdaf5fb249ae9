//! The delivery queue: claims under lease, concurrent claimers, outcomes, retries, release.

use std::collections::HashSet;
use std::time::Duration;

use chrono::TimeDelta;
use hook0_core::model::*;
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

pub async fn claim_yields_everything_a_delivery_needs(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = t.subscribe(store, &[TYPE], &[]).await;
    let e = t.ingest(store, TYPE, &[]).await;

    let before = now();
    let jobs = claim(store, "worker-a", 10, LONG_LEASE).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    let attempt = &t.attempts(store).await[0];
    assert_eq!(job.attempt.attempt_id, attempt.id);
    assert_eq!(job.attempt.application_id, t.app.id);
    assert_eq!(job.attempt.event_id, e.id);
    assert_eq!(job.attempt.subscription_id, sub.id);
    assert_eq!(job.attempt.retry_count, 0);
    assert_eq!(job.due_at, e.received_at);
    assert_eq!(job.event_received_at, e.received_at);
    assert_eq!(job.event_type_name, TYPE);
    assert_eq!(job.payload, e.payload);
    assert_eq!(job.payload_content_type, e.payload_content_type);
    assert_eq!(job.target, sub.target);
    assert_eq!(job.secret, sub.secret);

    let picked = store
        .get_request_attempt(t.app.id, attempt.id)
        .await
        .unwrap()
        .unwrap();
    let picked_at = picked.picked_at.expect("a claimed attempt is picked");
    assert!(picked_at >= before);
    assert_eq!(
        picked.status(now()),
        AttemptStatus::InProgress { since: picked_at }
    );
}

pub async fn claim_respects_limit_and_due_order(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(t.ingest(store, TYPE, &[]).await.id);
    }
    let mut claimed = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = claim(store, "w", 2, LONG_LEASE).await;
        assert_eq!(batch.len(), expected);
        let mut batch: Vec<_> = batch
            .into_iter()
            .map(|j| (j.due_at, j.attempt.event_id))
            .collect();
        batch.sort();
        claimed.extend(batch.into_iter().map(|(_, id)| id));
    }
    // Earliest due first.
    assert_eq!(claimed, events);
    assert!(claim(store, "w", 0, LONG_LEASE).await.is_empty());
}

pub async fn a_leased_attempt_is_claimable_again_only_after_the_lease(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;

    let first = claim(store, "w1", 10, LONG_LEASE).await;
    assert_eq!(first.len(), 1);
    assert!(claim(store, "w2", 10, LONG_LEASE).await.is_empty());
    let lease_end = store.next_due_at().await.unwrap().unwrap();
    assert!(lease_end > now() + TimeDelta::seconds(50));

    // A worker that dies holding a short lease: the attempt comes back once it runs out.
    t.ingest(store, TYPE, &[]).await;
    let lease = Duration::from_millis(150);
    let short = claim(store, "w1", 10, lease).await;
    assert_eq!(short.len(), 1);
    assert!(claim(store, "w2", 10, LONG_LEASE).await.is_empty());
    db.clock.advance(lease + Duration::from_millis(50));
    let again = claim(store, "w2", 10, LONG_LEASE).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, short[0].attempt);
    assert!(claim(store, "w3", 10, LONG_LEASE).await.is_empty());
}

pub async fn concurrent_claimers_never_share_an_attempt(db: &TestDb) {
    const ATTEMPTS: usize = 200;
    let store = &*db.store;
    let t = Tenant::create(store).await;
    for _ in 0..4 {
        t.subscribe(store, &[TYPE], &[]).await;
    }
    for _ in 0..ATTEMPTS / 4 {
        t.ingest(store, TYPE, &[]).await;
    }

    // Four claim loops; on PostgreSQL two of them use another store, as another process would.
    let other = if db.is_postgres() {
        db.reopen().await
    } else {
        db.store.clone()
    };
    let claimers: Vec<_> = (0..4)
        .map(|n| {
            let store = if n % 2 == 0 {
                db.store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    assert!(claimed.len() <= ATTEMPTS, "attempts handed out again");
                    let batch = claim(&*store, &format!("w{n}"), 7, LONG_LEASE).await;
                    if batch.is_empty() {
                        return claimed;
                    }
                    claimed.extend(batch.into_iter().map(|j| j.attempt.attempt_id));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "an attempt was claimed twice");
    let expected: HashSet<Uuid> = t.attempts(store).await.iter().map(|a| a.id).collect();
    assert_eq!(expected.len(), ATTEMPTS);
    assert_eq!(distinct, expected);
    assert!(claim_all(store).await.is_empty());
}

pub async fn success_finishes_the_attempt(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let job = claim_all(store).await.remove(0);
    let done = outcome(&job, true, None);
    record(store, std::slice::from_ref(&done)).await;

    let attempts = t.attempts(store).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].succeeded_at, Some(done.completed_at));
    assert_eq!(store.next_due_at().await.unwrap(), None);
    assert!(claim_all(store).await.is_empty());
    record(store, &[]).await;
}

pub async fn failure_with_retry_schedules_the_next_attempt(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let job = claim_all(store).await.remove(0);

    // A retry due later: scheduled, not claimable yet.
    let retry_at = now() + TimeDelta::minutes(10);
    let failed = outcome(&job, false, Some(retry_at));
    record(store, std::slice::from_ref(&failed)).await;
    let attempts = t.attempts(store).await;
    assert_eq!(attempts.len(), 2);
    let retry = attempts
        .iter()
        .find(|a| a.id != job.attempt.attempt_id)
        .unwrap();
    let first = attempts
        .iter()
        .find(|a| a.id == job.attempt.attempt_id)
        .unwrap();
    assert_eq!(first.failed_at, Some(failed.completed_at));
    assert_eq!(retry.retry_count, 1);
    assert_eq!(retry.event_id, job.attempt.event_id);
    assert_eq!(retry.subscription_id, job.attempt.subscription_id);
    assert_eq!(retry.created_at, failed.completed_at);
    assert_eq!(retry.delay_until, Some(retry_at));
    assert_eq!(
        (retry.picked_at, retry.failed_at, retry.succeeded_at),
        (None, None, None)
    );
    assert!(matches!(retry.status(now()), AttemptStatus::Waiting { .. }));
    assert_eq!(store.next_due_at().await.unwrap(), Some(retry_at));
    assert!(claim_all(store).await.is_empty());

    // A retry already due is claimable at once, as retry 1, due since its delay.
    t.ingest(store, TYPE, &[]).await;
    let second = claim_all(store).await.remove(0);
    let retry_at = now() - TimeDelta::seconds(1);
    let failed = outcome(&second, false, Some(retry_at));
    record(store, std::slice::from_ref(&failed)).await;
    let jobs = claim_all(store).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempt.retry_count, 1);
    assert_eq!(jobs[0].attempt.event_id, second.attempt.event_id);
    assert_eq!(jobs[0].due_at, failed.completed_at.max(retry_at));

    // Failing without a retry is final.
    record(store, &[outcome(&jobs[0], false, None)]).await;
    let attempts = t
        .attempts_where(store, |f| f.event_id = Some(second.attempt.event_id))
        .await;
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|a| a.failed_at.is_some()));
}

pub async fn outcomes_are_idempotent(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let job = claim_all(store).await.remove(0);
    let retry_at = now() + TimeDelta::minutes(5);
    let first = outcome(&job, false, Some(retry_at));
    record(store, std::slice::from_ref(&first)).await;
    let after_first = t.attempts(store).await;
    assert_eq!(after_first.len(), 2);

    // The same report again, and a different late one (a redelivery after the lease ran out).
    record(store, std::slice::from_ref(&first)).await;
    let late = outcome(&job, true, None);
    record(store, std::slice::from_ref(&late)).await;
    assert_eq!(t.attempts(store).await, after_first);
    assert_eq!(
        store
            .get_response(t.app.id, late.response.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_response(t.app.id, first.response.id)
            .await
            .unwrap(),
        Some(first.response.clone())
    );

    // Twice in one batch: the first report counts.
    t.ingest(store, TYPE, &[]).await;
    let job = claim_all(store).await.remove(0);
    let once = outcome(&job, false, Some(retry_at));
    let twice = outcome(&job, true, None);
    record(store, &[once.clone(), twice.clone(), once.clone()]).await;
    let attempts = t
        .attempts_where(store, |f| f.event_id = Some(job.attempt.event_id))
        .await;
    assert_eq!(attempts.len(), 2, "exactly one retry row");
    let reported = attempts
        .iter()
        .find(|a| a.id == job.attempt.attempt_id)
        .unwrap();
    assert_eq!(reported.failed_at, Some(once.completed_at));
    assert_eq!(reported.response_id, Some(once.response.id));
    assert_eq!(
        store
            .get_response(t.app.id, twice.response.id)
            .await
            .unwrap(),
        None
    );
}

pub async fn no_retry_row_once_the_subscription_is_disabled(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut disabled = t.subscribe(store, &[TYPE], &[]).await;
    let deleted = t.subscribe(store, &[TYPE], &[]).await;
    let live = t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let jobs = claim_all(store).await;
    assert_eq!(jobs.len(), 3);

    // While the deliveries are in flight, two subscriptions stop accepting them.
    disabled.is_enabled = false;
    store.update_subscription(&disabled).await.unwrap();
    store
        .delete_subscription(t.app.id, deleted.id)
        .await
        .unwrap();
    let retry_at = now() - TimeDelta::seconds(1);
    let outcomes: Vec<_> = jobs
        .iter()
        .map(|j| outcome(j, false, Some(retry_at)))
        .collect();
    record(store, &outcomes).await;

    let attempts = t.attempts(store).await;
    assert_eq!(attempts.len(), 4);
    for sub in [&disabled, &deleted] {
        let theirs: Vec<_> = attempts
            .iter()
            .filter(|a| a.subscription_id == sub.id)
            .collect();
        assert_eq!(
            theirs.len(),
            1,
            "no retry row for a subscription that stopped"
        );
        // Failed by the subscription change, not by the late report.
        assert_eq!(theirs[0].response_id, None);
    }
    let retried = claim_all(store).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempt.subscription_id, live.id);
    assert_eq!(retried[0].attempt.retry_count, 1);
}

pub async fn release_makes_attempts_due_again(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    for _ in 0..3 {
        t.ingest(store, TYPE, &[]).await;
    }
    let jobs = claim_all(store).await;
    assert_eq!(jobs.len(), 3);
    // One finished, two given back at shutdown (plus an unknown id).
    record(store, &[outcome(&jobs[0], true, None)]).await;
    let before = now();
    store
        .release_attempts(&[
            jobs[0].attempt.attempt_id,
            jobs[1].attempt.attempt_id,
            jobs[2].attempt.attempt_id,
            Uuid::new_v4(),
        ])
        .await
        .unwrap();
    store.release_attempts(&[]).await.unwrap();

    let due = store.next_due_at().await.unwrap().unwrap();
    assert!(due >= before && due <= now());
    for job in &jobs[1..] {
        let a = store
            .get_request_attempt(t.app.id, job.attempt.attempt_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.picked_at, None);
        assert!(matches!(a.status(now()), AttemptStatus::Pending { .. }));
    }
    let finished = store
        .get_request_attempt(t.app.id, jobs[0].attempt.attempt_id)
        .await
        .unwrap()
        .unwrap();
    assert!(finished.succeeded_at.is_some());

    let mut again: Vec<Uuid> = claim_all(store)
        .await
        .iter()
        .map(|j| j.attempt.attempt_id)
        .collect();
    again.sort();
    let mut expected = vec![jobs[1].attempt.attempt_id, jobs[2].attempt.attempt_id];
    expected.sort();
    assert_eq!(again, expected);
}

pub async fn next_due_at_follows_the_queue(db: &TestDb) {
    let store = &*db.store;
    assert_eq!(store.next_due_at().await.unwrap(), None);
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let e = t.ingest(store, TYPE, &[]).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(e.received_at));

    let claimed_at = now();
    let job = claim(store, "w", 10, Duration::from_secs(30))
        .await
        .remove(0);
    let lease_end = store.next_due_at().await.unwrap().unwrap();
    assert!(lease_end >= claimed_at + TimeDelta::seconds(30));
    assert!(lease_end <= now() + TimeDelta::seconds(30));

    let retry_at = now() + TimeDelta::minutes(3);
    record(store, &[outcome(&job, false, Some(retry_at))]).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(retry_at));

    let e = t.ingest(store, TYPE, &[]).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(e.received_at));
}

/// Claims at most one attempt of the subscription (`cap`, so a claim that leaves one due
/// behind is still partial) and checks the next due time the claim reports against a read of
/// `next_due_at` right after it. PostgreSQL must report it after a partial claim (it saves the
/// idle worker a round trip); a backend that reports `Unknown` is only asked to be right when
/// it does not.
async fn claim_one_and_check_next_due(
    store: &dyn hook0_store::Store,
) -> hook0_core::delivery::DeliveryJob {
    let request = hook0_core::delivery::ClaimRequest {
        max_in_flight_per_subscription: 1,
        max_in_flight_per_fast_subscription: 1,
        ..hook0_core::delivery::ClaimRequest::unlimited(10, Duration::from_secs(30))
    };
    let claimed = store.claim_attempts("w", &request).await.unwrap();
    let read = store.next_due_at().await.unwrap();
    match claimed.next_due.known() {
        Some(at) => assert_eq!(Some(at), read, "the claim's next due time"),
        None => assert_ne!(
            store.backend(),
            "postgres",
            "PostgreSQL tells the next due time"
        ),
    }
    let mut jobs = claimed.jobs.into_iter();
    let job = jobs.next().expect("one attempt claimed");
    assert!(jobs.next().is_none(), "one attempt at a time");
    job
}

pub async fn a_claim_tells_when_the_next_attempt_is_due(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    // Two due, one claimed: the one left behind is the next due.
    t.ingest(store, TYPE, &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let first = claim_one_and_check_next_due(store).await;
    // A retry due in three minutes, after the lease's end; the second claimed.
    record(
        store,
        &[outcome(&first, false, Some(now() + TimeDelta::minutes(3)))],
    )
    .await;
    let second = claim_one_and_check_next_due(store).await;
    record(store, &[outcome(&second, true, None)]).await;
    // Nothing else due: the next due time is the lease's end.
    t.ingest(store, TYPE, &[]).await;
    claim_one_and_check_next_due(store).await;
}
