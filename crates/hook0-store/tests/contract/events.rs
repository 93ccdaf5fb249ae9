//! Ingest (routing to subscriptions), reading events back, replay.

use std::collections::BTreeSet;

use hook0_core::model::*;
use hook0_store::StoreError;
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

pub async fn ingest_creates_attempts_for_matching_subscriptions_only(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let any = t.subscribe(store, &[OTHER_TYPE, TYPE], &[]).await;
    let prod = t.subscribe(store, &[TYPE], &[("env", "prod")]).await;
    t.subscribe(store, &[OTHER_TYPE], &[]).await;
    t.subscribe(store, &[TYPE], &[("env", "prod"), ("tenant", "a")])
        .await;
    t.subscribe(store, &[TYPE], &[("env", "dev")]).await;
    let mut disabled = subscription(t.app.id, &[TYPE], &[]);
    disabled.is_enabled = false;
    store.create_subscription(&disabled).await.unwrap();
    let deleted = t.subscribe(store, &[TYPE], &[]).await;
    store
        .delete_subscription(t.app.id, deleted.id)
        .await
        .unwrap();
    // Same type name in another application.
    let other = Tenant::create(store).await;
    other.subscribe(store, &[TYPE], &[]).await;

    let e = event(t.app.id, TYPE, &[("env", "prod"), ("region", "eu")]);
    let ingested = store.ingest_event(&e).await.unwrap();
    assert_eq!(ingested.request_attempts, 2);

    let attempts = t.attempts(store).await;
    let routed: BTreeSet<Uuid> = attempts.iter().map(|a| a.subscription_id).collect();
    assert_eq!(routed, BTreeSet::from([any.id, prod.id]));
    for a in &attempts {
        assert_eq!(a.event_id, e.id);
        assert_eq!(a.application_id, t.app.id);
        assert_eq!(a.event_type_name, TYPE);
        assert_eq!(a.created_at, ingested.received_at);
        assert_eq!(a.retry_count, 0);
        assert_eq!(a.subscription_description.as_deref(), Some("to the ledger"));
        assert_eq!(
            (a.picked_at, a.failed_at, a.succeeded_at),
            (None, None, None)
        );
        assert_eq!(
            (a.delay_until, a.response_id, a.http_response_status),
            (None, None, None)
        );
    }
    assert!(other.attempts(store).await.is_empty());

    // No label on the event: only the subscription without labels matches.
    let ingested = store
        .ingest_event(&event(t.app.id, TYPE, &[]))
        .await
        .unwrap();
    assert_eq!(ingested.request_attempts, 1);
    // No subscription for the type at all: stored, nothing to deliver.
    let e = event(other.app.id, OTHER_TYPE, &[]);
    assert_eq!(store.ingest_event(&e).await.unwrap().request_attempts, 0);
    assert!(store.get_event(other.app.id, e.id).await.unwrap().is_some());
}

pub async fn duplicate_event_is_refused(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let first = t.ingest(store, TYPE, &[]).await;

    let mut again = first.clone();
    again.payload = b"different".to_vec();
    assert!(matches!(
        store.ingest_event(&again).await,
        Err(StoreError::EventAlreadyIngested)
    ));
    assert_eq!(
        store.get_event(t.app.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(t.attempts(store).await.len(), 1);
    // The store stays usable after the refused write.
    t.ingest(store, TYPE, &[]).await;
    assert_eq!(t.attempts(store).await.len(), 2);
}

/// An event id is unique within its application only: another tenant may use the same id (no
/// 409 that would tell it the id exists, no way to take a tenant's id first), and every read,
/// claim and replay keeps the two events apart.
pub async fn the_same_event_id_in_two_applications_stays_two_events(db: &TestDb) {
    let store = &*db.store;
    let (a, b) = (Tenant::create(store).await, Tenant::create(store).await);
    a.subscribe(store, &[TYPE], &[]).await;
    b.subscribe(store, &[TYPE], &[]).await;
    let mut first = event(a.app.id, TYPE, &[]);
    first.payload = b"{\"tenant\":\"a\"}".to_vec();
    let mut second = first.clone();
    second.application_id = b.app.id;
    second.payload = b"{\"tenant\":\"b\"}".to_vec();
    assert_eq!(
        store.ingest_event(&first).await.unwrap().request_attempts,
        1
    );
    assert_eq!(
        store.ingest_event(&second).await.unwrap().request_attempts,
        1
    );
    // Within one application the id is still taken.
    assert!(matches!(
        store.ingest_event(&second).await,
        Err(StoreError::EventAlreadyIngested)
    ));

    assert_eq!(
        store.get_event(a.app.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_event(b.app.id, first.id).await.unwrap(),
        Some(second.clone())
    );
    let jobs = claim_all(store).await;
    let mut payloads: Vec<(Uuid, Vec<u8>)> = jobs
        .iter()
        .map(|j| (j.attempt.application_id, j.payload.clone()))
        .collect();
    payloads.sort();
    let mut expected = vec![
        (a.app.id, first.payload.clone()),
        (b.app.id, second.payload.clone()),
    ];
    expected.sort();
    assert_eq!(payloads, expected);

    assert_eq!(
        store.replay_event(a.app.id, first.id).await.unwrap(),
        Some(1)
    );
    assert_eq!(a.attempts(store).await.len(), 2);
    assert_eq!(b.attempts(store).await.len(), 1);
}

pub async fn unknown_event_type_is_refused(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    let e = event(t.app.id, "billing.invoice.unknown", &[]);
    match store.ingest_event(&e).await {
        Err(StoreError::EventTypeDoesNotExist(name)) => assert_eq!(name, "billing.invoice.unknown"),
        other => panic!("expected EventTypeDoesNotExist, got {other:?}"),
    }
    assert_eq!(store.get_event(t.app.id, e.id).await.unwrap(), None);
    // A type of another application is unknown here.
    let other = Tenant::create(store).await;
    store
        .upsert_event_type(&event_type(other.app.id, "crm.contact.created"))
        .await
        .unwrap();
    let e = event(t.app.id, "crm.contact.created", &[]);
    assert!(matches!(
        store.ingest_event(&e).await,
        Err(StoreError::EventTypeDoesNotExist(_))
    ));
    assert!(store.list_events(t.app.id, 10).await.unwrap().is_empty());
    assert!(t.attempts(store).await.is_empty());
}

pub async fn events_round_trip(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    for (content_type, payload) in [
        (PayloadContentType::Json, br#"{"a":[1,2]}"#.to_vec()),
        (
            PayloadContentType::TextPlain,
            "h\u{e9}llo\n".as_bytes().to_vec(),
        ),
        (
            PayloadContentType::OctetStreamBase64,
            vec![0, 159, 146, 150, 255],
        ),
    ] {
        let mut e = event(t.app.id, TYPE, &[("env", "prod")]);
        e.payload = payload;
        e.payload_content_type = content_type;
        e.ip = None;
        e.metadata = StringMap::new();
        let ingested = store.ingest_event(&e).await.unwrap();
        e.received_at = ingested.received_at;
        assert_eq!(
            store.get_event(t.app.id, e.id).await.unwrap(),
            Some(e.clone())
        );
        assert_eq!(store.get_event(Uuid::new_v4(), e.id).await.unwrap(), None);
    }
    let e = t.ingest(store, TYPE, &[]).await;
    let read = store.get_event(t.app.id, e.id).await.unwrap().unwrap();
    assert_eq!(read, e);
    assert_eq!(read.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        store.get_event(t.app.id, Uuid::new_v4()).await.unwrap(),
        None
    );
}

pub async fn list_events_is_newest_first_without_payload(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let other = Tenant::create(store).await;
    other.ingest(store, TYPE, &[]).await;
    let mut ingested = Vec::new();
    for _ in 0..5 {
        ingested.push(t.ingest(store, TYPE, &[("k", "v")]).await);
    }
    let listed = store.list_events(t.app.id, 3).await.unwrap();
    let expected: Vec<Event> = ingested
        .iter()
        .rev()
        .take(3)
        .map(|e| Event {
            payload: Vec::new(),
            ..e.clone()
        })
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(store.list_events(t.app.id, 100).await.unwrap().len(), 5);
    assert!(store
        .list_events(Uuid::new_v4(), 100)
        .await
        .unwrap()
        .is_empty());
}

pub async fn replay_uses_the_subscriptions_matching_now(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut first = t.subscribe(store, &[TYPE], &[]).await;
    let e = t.ingest(store, TYPE, &[("env", "prod")]).await;
    assert_eq!(t.attempts(store).await.len(), 1);

    let later = t.subscribe(store, &[TYPE], &[("env", "prod")]).await;
    t.subscribe(store, &[TYPE], &[("env", "dev")]).await;
    first.is_enabled = false;
    store.update_subscription(&first).await.unwrap();

    assert_eq!(store.replay_event(t.app.id, e.id).await.unwrap(), Some(1));
    let attempts = t.attempts_where(store, |f| f.event_id = Some(e.id)).await;
    assert_eq!(attempts.len(), 2);
    let replayed = attempts
        .iter()
        .find(|a| a.subscription_id == later.id)
        .unwrap();
    assert_eq!(replayed.retry_count, 0);
    assert_eq!(replayed.failed_at, None);
    let due = claim_all(store).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempt.attempt_id, replayed.id);

    assert_eq!(
        store.replay_event(t.app.id, Uuid::new_v4()).await.unwrap(),
        None
    );
    assert_eq!(
        store.replay_event(Uuid::new_v4(), e.id).await.unwrap(),
        None
    );
    store.delete_subscription(t.app.id, later.id).await.unwrap();
    assert_eq!(store.replay_event(t.app.id, e.id).await.unwrap(), Some(0));
}

/// Ingests arriving together (which a store may write as one batch) each get their own answer:
/// attempts routed per application and labels, an unknown type and a duplicate id refused
/// without failing the others, the same id sent twice at once stored once.
pub async fn concurrent_ingests_each_get_their_own_answer(db: &TestDb) {
    let store = db.store.clone();
    let a = Tenant::create(&*store).await;
    let b = Tenant::create(&*store).await;
    a.subscribe(&*store, &[TYPE], &[]).await;
    a.subscribe(&*store, &[TYPE], &[("env", "prod")]).await;
    b.subscribe(&*store, &[TYPE], &[]).await;
    let stored_before = a.ingest(&*store, TYPE, &[]).await;

    let mut events = Vec::new();
    for i in 0..60 {
        let (app, labels): (Uuid, &[(&str, &str)]) = match i % 3 {
            0 => (a.app.id, &[("env", "prod")]),
            1 => (a.app.id, &[]),
            _ => (b.app.id, &[("env", "prod")]),
        };
        let expected = match i % 3 {
            0 => Ok(2),
            _ => Ok(1),
        };
        events.push((event(app, TYPE, labels), expected));
    }
    events.push((event(a.app.id, "no.such.type", &[]), Err("type")));
    events.push((stored_before.clone(), Err("duplicate")));
    let twice = event(b.app.id, TYPE, &[]);

    let mut tasks = tokio::task::JoinSet::new();
    for (i, (e, expected)) in events.iter().cloned().enumerate() {
        let store = store.clone();
        tasks.spawn(async move { (i, expected, store.ingest_event(&e).await) });
    }
    for _ in 0..2 {
        let (store, e) = (store.clone(), twice.clone());
        tasks.spawn(async move { (usize::MAX, Ok(1), store.ingest_event(&e).await) });
    }
    let mut twice_stored = 0;
    let mut twice_refused = 0;
    while let Some(done) = tasks.join_next().await {
        let (i, expected, got) = done.unwrap();
        match (i, expected, got) {
            (usize::MAX, _, Ok(ingested)) => {
                assert_eq!(ingested.request_attempts, 1);
                twice_stored += 1;
            }
            (usize::MAX, _, Err(StoreError::EventAlreadyIngested)) => twice_refused += 1,
            (_, Ok(n), Ok(ingested)) => assert_eq!(ingested.request_attempts, n, "event {i}"),
            (_, Err("type"), Err(StoreError::EventTypeDoesNotExist(name))) => {
                assert_eq!(name, "no.such.type")
            }
            (_, Err("duplicate"), Err(StoreError::EventAlreadyIngested)) => {}
            (i, expected, got) => panic!("event {i}: expected {expected:?}, got {got:?}"),
        }
    }
    assert_eq!((twice_stored, twice_refused), (1, 1));
    for (e, _) in &events[..60] {
        let stored = store.get_event(e.application_id, e.id).await.unwrap();
        assert_eq!(stored.map(|s| s.payload), Some(e.payload.clone()));
    }
    // 20 × 2 + 20 × 1 for `a`, plus the one ingested before.
    assert_eq!(a.attempts(&*store).await.len(), 61);
    // 20 for `b`, plus the id sent twice.
    assert_eq!(b.attempts(&*store).await.len(), 21);
}
