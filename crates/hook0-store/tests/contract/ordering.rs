//! Ordered delivery per key: one delivery per key at a time, in ingest order, through
//! retries, leases that run out, dead letters (either policy), redeliveries, subscription
//! changes, and concurrent ingests and workers.

use std::collections::HashMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use hook0_core::delivery::DeliveryJob;
use hook0_core::model::{now, OnDeadLetter, Ordering, Subscription};
use hook0_store::{DeadLetterRetry, Store};
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

const LABEL: &str = "invoice_id";

async fn ordered(store: &dyn Store, t: &Tenant, on_dead_letter: OnDeadLetter) -> Subscription {
    let mut sub = subscription(t.app.id, &[TYPE], &[]);
    sub.ordering = Some(Ordering {
        label: LABEL.into(),
        on_dead_letter,
    });
    store.create_subscription(&sub).await.unwrap();
    sub
}

/// Ingests an event of key `key` (none: without the label); its id.
async fn ingest(store: &dyn Store, t: &Tenant, key: Option<&str>) -> Uuid {
    match key {
        Some(key) => t.ingest(store, TYPE, &[(LABEL, key)]).await.id,
        None => t.ingest(store, TYPE, &[]).await.id,
    }
}

fn events(jobs: &[DeliveryJob]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = jobs.iter().map(|j| j.attempt.event_id).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn succeed(store: &dyn Store, jobs: &[DeliveryJob]) {
    let outcomes: Vec<_> = jobs.iter().map(|j| outcome(j, true, None)).collect();
    record(store, &outcomes).await;
}

pub async fn one_delivery_per_key_in_ingest_order(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = ordered(store, &t, OnDeadLetter::Hold).await;
    let a1 = ingest(store, &t, Some("A")).await;
    let a2 = ingest(store, &t, Some("A")).await;
    let b1 = ingest(store, &t, Some("B")).await;
    let a3 = ingest(store, &t, Some("A")).await;
    let plain = ingest(store, &t, None).await;

    // The heads of A and B, and the event without the label: the rest of A waits its turn.
    let first = claim_all(store).await;
    assert_eq!(events(&first), sorted(vec![a1, b1, plain]));
    let keys = store.ordering_keys(t.app.id, sub.id).await.unwrap();
    let a = keys.iter().find(|k| k.key == "A").expect("A is in play");
    assert_eq!((a.waiting, a.held_by), (2, None));
    assert!(a.head.is_some(), "A's head is in flight");

    // A retry keeps A's place: the same event comes again, not the next one.
    let a1_job = first.iter().find(|j| j.attempt.event_id == a1).unwrap();
    record(store, &[outcome(a1_job, false, Some(now()))]).await;
    let retried = claim_all(store).await;
    assert_eq!(events(&retried), [a1]);
    assert_eq!(retried[0].attempt.retry_count, 1);
    assert!(claim_all(store).await.is_empty());

    // Each success lets the next of A go, in ingest order.
    succeed(store, &retried).await;
    let second = claim_all(store).await;
    assert_eq!(events(&second), [a2]);
    succeed(store, &second).await;
    let third = claim_all(store).await;
    assert_eq!(events(&third), [a3]);
    succeed(store, &third).await;
    let rest: Vec<DeliveryJob> = first
        .iter()
        .filter(|j| j.attempt.event_id != a1)
        .cloned()
        .collect();
    succeed(store, &rest).await;
    assert!(claim_all(store).await.is_empty());
    assert!(
        store
            .ordering_keys(t.app.id, sub.id)
            .await
            .unwrap()
            .is_empty(),
        "every key is idle"
    );

    // An idle key starts a new line: the next event of A is due at once.
    let a4 = ingest(store, &t, Some("A")).await;
    assert_eq!(events(&claim_all(store).await), [a4]);
    let attempts = t.attempts(store).await;
    assert!(attempts
        .iter()
        .filter(|a| a.event_id != plain)
        .all(|a| a.ordering_key.is_some()));
    assert!(attempts
        .iter()
        .any(|a| a.event_id == plain && a.ordering_key.is_none()));
}

/// An application whose events were written without ordering gets its first ordered
/// subscription: the next events are placed in their key's line at once, each written once,
/// with the unordered subscription's attempts beside.
pub async fn a_first_ordered_subscription_orders_the_next_events(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let plain = t.subscribe(store, &[TYPE], &[]).await;
    let before = ingest(store, &t, Some("A")).await;
    assert_eq!(events(&claim_all(store).await), [before]);

    let sub = ordered(store, &t, OnDeadLetter::Hold).await;
    let a1 = ingest(store, &t, Some("A")).await;
    let a2 = ingest(store, &t, Some("A")).await;
    let jobs = claim_all(store).await;
    let to = |subscription_id: Uuid| {
        sorted(
            jobs.iter()
                .filter(|j| j.attempt.subscription_id == subscription_id)
                .map(|j| j.attempt.event_id)
                .collect(),
        )
    };
    assert_eq!(
        to(plain.id),
        sorted(vec![a1, a2]),
        "unordered: both at once"
    );
    assert_eq!(to(sub.id), [a1], "ordered: the key's head only");
    let keys = store.ordering_keys(t.app.id, sub.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].waiting, 1, "the second waits its turn");
    assert_eq!(
        t.attempts(store).await.len(),
        5,
        "every attempt written once"
    );
}

pub async fn a_lease_that_runs_out_gives_the_head_again_never_the_next(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    ordered(store, &t, OnDeadLetter::Hold).await;
    let a1 = ingest(store, &t, Some("A")).await;
    ingest(store, &t, Some("A")).await;

    // A worker killed mid-delivery: its short lease runs out, the head comes back.
    let lease = Duration::from_millis(150);
    let held = claim(store, "w1", 10, lease).await;
    assert_eq!(events(&held), [a1]);
    assert!(claim(store, "w2", 10, LONG_LEASE).await.is_empty());
    db.clock.advance(lease + Duration::from_millis(50));
    let again = claim(store, "w2", 10, LONG_LEASE).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, held[0].attempt);
    assert!(claim(store, "w3", 10, LONG_LEASE).await.is_empty());
    // The dead worker's late report counts once; the next goes after it.
    succeed(store, &held).await;
    succeed(store, &again).await;
    assert_eq!(claim_all(store).await.len(), 1);
}

pub async fn a_dead_letter_holds_its_key_until_redelivered(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = ordered(store, &t, OnDeadLetter::Hold).await;
    let a1 = ingest(store, &t, Some("A")).await;
    let a2 = ingest(store, &t, Some("A")).await;

    let head = claim_all(store).await;
    record(store, &[outcome(&head[0], false, None)]).await;
    // A waits on its dead letter; other keys flow.
    let b1 = ingest(store, &t, Some("B")).await;
    let flowing = claim_all(store).await;
    assert_eq!(events(&flowing), [b1]);
    let keys = store.ordering_keys(t.app.id, sub.id).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0].key, "A", "held keys come first");
    assert_eq!(keys[0].held_by, Some(head[0].attempt.attempt_id));
    assert!(keys[0].held_since.is_some());
    assert_eq!((keys[0].waiting, keys[0].head), (1, None));

    // Redelivered, the dead letter takes the head again; its success lets a2 go.
    let retry = store
        .retry_dead_letter(t.app.id, head[0].attempt.attempt_id)
        .await
        .unwrap();
    assert!(matches!(retry, DeadLetterRetry::Queued { .. }), "{retry:?}");
    let redelivered = claim_all(store).await;
    assert_eq!(events(&redelivered), [a1]);
    succeed(store, &redelivered).await;
    assert_eq!(events(&claim_all(store).await), [a2]);
}

pub async fn under_continue_a_dead_letter_lets_the_next_go(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = ordered(store, &t, OnDeadLetter::Continue).await;
    ingest(store, &t, Some("A")).await;
    let a2 = ingest(store, &t, Some("A")).await;
    let head = claim_all(store).await;
    record(store, &[outcome(&head[0], false, None)]).await;
    let next = claim_all(store).await;
    assert_eq!(events(&next), [a2]);
    let keys = store.ordering_keys(t.app.id, sub.id).await.unwrap();
    assert!(keys.iter().all(|k| k.held_by.is_none()), "{keys:?}");

    // Redelivering the dead letter now joins the end of A's line: one in flight per key.
    store
        .retry_dead_letter(t.app.id, head[0].attempt.attempt_id)
        .await
        .unwrap();
    assert!(claim_all(store).await.is_empty(), "a2 is still in flight");
    succeed(store, &next).await;
    assert_eq!(events(&claim_all(store).await).len(), 1);
}

pub async fn changing_the_policy_to_continue_moves_held_keys_on(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut sub = ordered(store, &t, OnDeadLetter::Hold).await;
    ingest(store, &t, Some("A")).await;
    let a2 = ingest(store, &t, Some("A")).await;
    let head = claim_all(store).await;
    record(store, &[outcome(&head[0], false, None)]).await;
    assert!(claim_all(store).await.is_empty());
    sub.ordering.as_mut().unwrap().on_dead_letter = OnDeadLetter::Continue;
    store.update_subscription(&sub).await.unwrap().unwrap();
    assert_eq!(events(&claim_all(store).await), [a2]);
}

pub async fn disabling_fails_what_waits_and_removing_the_label_lets_it_go(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut sub = ordered(store, &t, OnDeadLetter::Hold).await;
    ingest(store, &t, Some("A")).await;
    ingest(store, &t, Some("A")).await;
    assert_eq!(claim_all(store).await.len(), 1);

    sub.is_enabled = false;
    store.update_subscription(&sub).await.unwrap().unwrap();
    let attempts = t.attempts(store).await;
    assert!(
        attempts.iter().all(|a| a.failed_at.is_some()),
        "the waiting attempt fails with the pending one: {attempts:?}"
    );
    assert!(store
        .ordering_keys(t.app.id, sub.id)
        .await
        .unwrap()
        .is_empty());

    // Enabled again, a key starts afresh.
    sub.is_enabled = true;
    store.update_subscription(&sub).await.unwrap().unwrap();
    let a3 = ingest(store, &t, Some("A")).await;
    ingest(store, &t, Some("A")).await;
    ingest(store, &t, Some("A")).await;
    assert_eq!(events(&claim_all(store).await), [a3]);

    // No label any more: the waiting ones go at once.
    sub.ordering = None;
    store.update_subscription(&sub).await.unwrap().unwrap();
    assert_eq!(claim_all(store).await.len(), 2);
    assert!(store
        .ordering_keys(t.app.id, sub.id)
        .await
        .unwrap()
        .is_empty());
}

pub async fn another_applications_keys_are_not_listed(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = ordered(store, &t, OnDeadLetter::Hold).await;
    ingest(store, &t, Some("A")).await;
    ingest(store, &t, Some("A")).await;
    let other = Tenant::create(store).await;
    assert_eq!(
        store.ordering_keys(t.app.id, sub.id).await.unwrap().len(),
        1
    );
    assert!(store
        .ordering_keys(other.app.id, sub.id)
        .await
        .unwrap()
        .is_empty());
}

/// Four senders ingest 40 events each of one key (each waiting for its answer before the
/// next), while two workers claim and report: never two of the key in flight, every sender's
/// events delivered in its order, none lost.
pub async fn concurrent_ingests_and_workers_keep_one_line(db: &TestDb) {
    const SENDERS: usize = 4;
    const EACH: usize = 40;
    let store: Arc<dyn Store> = db.store.clone();
    let t = Arc::new(Tenant::create(&*store).await);
    ordered(&*store, &t, OnDeadLetter::Hold).await;

    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (store, t) = (store.clone(), t.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for _ in 0..EACH {
                sent.push(ingest(&*store, &t, Some("A")).await);
            }
            (sender, sent)
        }));
    }
    let in_flight = Arc::new(AtomicUsize::new(0));
    let sending_over = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..2 {
        let (store, in_flight, delivered) = (store.clone(), in_flight.clone(), delivered.clone());
        let sending_over = sending_over.clone();
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            while !(sending_over.load(SeqCst) && idle >= 10) {
                let jobs = claim(&*store, &format!("w{w}"), 10, LONG_LEASE).await;
                if jobs.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                assert_eq!(jobs.len(), 1, "one of the key at a time");
                let flying = in_flight.fetch_add(1, SeqCst);
                assert_eq!(flying, 0, "two of the key in flight");
                delivered.lock().unwrap().push(jobs[0].attempt.event_id);
                in_flight.fetch_sub(1, SeqCst);
                succeed(&*store, &jobs).await;
            }
        }));
    }
    let mut sent: HashMap<usize, Vec<Uuid>> = HashMap::new();
    for s in senders {
        let (sender, ids) = s.await.unwrap();
        sent.insert(sender, ids);
    }
    sending_over.store(true, SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let delivered = delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), SENDERS * EACH, "each delivered once");
    let position: HashMap<Uuid, usize> =
        delivered.iter().enumerate().map(|(i, e)| (*e, i)).collect();
    for (sender, ids) in sent {
        let order: Vec<usize> = ids.iter().map(|id| position[id]).collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "sender {sender}'s events out of order: {order:?}"
        );
    }
}

/// A replay, a resend and the redelivery of a dead letter that holds nothing join the end of
/// their key's line: one delivery of the key in flight, always.
pub async fn replays_resends_and_free_redeliveries_join_the_end_of_the_line(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = ordered(store, &t, OnDeadLetter::Hold).await;
    let a1 = ingest(store, &t, Some("A")).await;
    let head = claim_all(store).await;
    assert_eq!(events(&head), [a1]);

    // While a1 is in flight: a replay of a1, then a resend of it, then a new event.
    assert_eq!(store.replay_event(t.app.id, a1).await.unwrap(), Some(1));
    store
        .resend_event(t.app.id, a1, sub.id, now())
        .await
        .unwrap()
        .expect("queued");
    let a2 = ingest(store, &t, Some("A")).await;
    assert!(
        claim_all(store).await.is_empty(),
        "all three wait behind a1"
    );
    let keys = store.ordering_keys(t.app.id, sub.id).await.unwrap();
    assert_eq!(keys[0].waiting, 3);

    // Then one at a time, in the order they joined.
    succeed(store, &head).await;
    let mut order = Vec::new();
    loop {
        let next = claim_all(store).await;
        if next.is_empty() {
            break;
        }
        assert_eq!(next.len(), 1, "one of the key at a time");
        order.push(next[0].attempt.event_id);
        succeed(store, &next).await;
    }
    assert_eq!(order, [a1, a1, a2]);
}

/// A bulk redelivery of a subscription's dead letters: one that holds its key takes the head;
/// an event that died twice is queued once, and the key its later dead letter holds goes on
/// (to that one redelivery).
pub async fn a_bulk_redelivery_lets_held_keys_go_on(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut sub = ordered(store, &t, OnDeadLetter::Continue).await;
    // Under `continue`, b1 dies (its first dead letter holds nothing) and B moves on.
    let b1 = ingest(store, &t, Some("B")).await;
    let b2 = ingest(store, &t, Some("B")).await;
    let first = claim_all(store).await;
    assert_eq!(events(&first), [b1]);
    record(store, &[outcome(&first[0], false, None)]).await;
    let next = claim_all(store).await;
    assert_eq!(events(&next), [b2]);
    succeed(store, &next).await;
    // Under `hold`, a replay of b1 dies again: its second dead letter holds B.
    sub.ordering.as_mut().unwrap().on_dead_letter = OnDeadLetter::Hold;
    store.update_subscription(&sub).await.unwrap().unwrap();
    store.replay_event(t.app.id, b1).await.unwrap();
    let replayed = claim_all(store).await;
    assert_eq!(events(&replayed), [b1]);
    record(store, &[outcome(&replayed[0], false, None)]).await;
    let b3 = ingest(store, &t, Some("B")).await;
    // A is held by its own head's dead letter.
    let a1 = ingest(store, &t, Some("A")).await;
    let a2 = ingest(store, &t, Some("A")).await;
    let a_head = claim_all(store).await;
    assert_eq!(events(&a_head), [a1]);
    record(store, &[outcome(&a_head[0], false, None)]).await;
    assert!(claim_all(store).await.is_empty(), "A and B are held");

    let redelivered = store
        .redeliver_dead_letters(t.app.id, sub.id, None)
        .await
        .unwrap();
    assert!(
        matches!(redelivered, hook0_store::Redelivery::Queued { count: 2 }),
        "b1 once, a1: {redelivered:?}"
    );
    let retried = claim_all(store).await;
    assert_eq!(events(&retried), sorted(vec![a1, b1]));
    succeed(store, &retried).await;
    assert_eq!(events(&claim_all(store).await), sorted(vec![a2, b3]));
    assert!(store
        .ordering_keys(t.app.id, sub.id)
        .await
        .unwrap()
        .iter()
        .all(|k| k.held_by.is_none()));
}
