//! Subscriptions, and how changing one settles its pending attempts.

use chrono::TimeDelta;
use hook0_core::model::*;
use hook0_store::StoreError;
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

pub async fn subscriptions_round_trip(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut first = subscription(
        t.app.id,
        &[TYPE, OTHER_TYPE],
        &[("env", "prod"), ("tenant", "a")],
    );
    first.dedicated_workers = vec!["eu".into(), "us".into()];
    first.description = None;
    store.create_subscription(&first).await.unwrap();
    let second = t.subscribe(store, &[TYPE], &[]).await;

    assert_eq!(
        store.get_subscription(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_subscription(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store.list_subscriptions(t.app.id).await.unwrap(),
        [first, second]
    );
    assert!(store
        .list_subscriptions(Uuid::new_v4())
        .await
        .unwrap()
        .is_empty());
}

pub async fn unknown_event_types_are_refused(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = subscription(t.app.id, &[TYPE, "billing.invoice.unknown"], &[]);
    match store.create_subscription(&sub).await {
        Err(StoreError::EventTypeDoesNotExist(name)) => assert_eq!(name, "billing.invoice.unknown"),
        other => panic!("expected EventTypeDoesNotExist, got {other:?}"),
    }
    assert_eq!(store.get_subscription(sub.id).await.unwrap(), None);

    // Event types are per application.
    let other = Tenant::create(store).await;
    store
        .upsert_event_type(&event_type(other.app.id, "crm.contact.created"))
        .await
        .unwrap();
    let sub = subscription(t.app.id, &["crm.contact.created"], &[]);
    assert!(matches!(
        store.create_subscription(&sub).await,
        Err(StoreError::EventTypeDoesNotExist(_))
    ));

    let mut sub = t.subscribe(store, &[TYPE], &[]).await;
    sub.event_types = vec!["billing.invoice.unknown".into()];
    assert!(matches!(
        store.update_subscription(&sub).await,
        Err(StoreError::EventTypeDoesNotExist(_))
    ));
    assert_eq!(
        store
            .get_subscription(sub.id)
            .await
            .unwrap()
            .unwrap()
            .event_types,
        [TYPE]
    );
}

pub async fn update_replaces_all_but_secret_and_creation_time(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let original = t.subscribe(store, &[TYPE], &[("env", "prod")]).await;

    let mut change = original.clone();
    change.event_types = vec![OTHER_TYPE.into()];
    change.description = Some("renamed".into());
    change.metadata = map(&[("owner", "ops")]);
    change.labels = StringMap::new();
    change.target = HttpTarget {
        method: "PUT".into(),
        url: "https://other.example/in".into(),
        headers: StringMap::new(),
    };
    change.dedicated_workers = vec!["eu".into()];
    change.updated_at = original.updated_at + TimeDelta::seconds(3);
    change.secret = Uuid::new_v4();
    change.created_at = original.created_at + TimeDelta::days(1);

    let updated = store.update_subscription(&change).await.unwrap().unwrap();
    let expected = Subscription {
        secret: original.secret,
        created_at: original.created_at,
        ..change.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(
        store.get_subscription(original.id).await.unwrap(),
        Some(expected)
    );

    let mut unknown = change.clone();
    unknown.id = Uuid::new_v4();
    assert_eq!(store.update_subscription(&unknown).await.unwrap(), None);
    // Unknown wins over unknown event types (404 before 422).
    unknown.event_types = vec!["billing.invoice.unknown".into()];
    assert_eq!(store.update_subscription(&unknown).await.unwrap(), None);
    let other = Tenant::create(store).await;
    let mut foreign = change.clone();
    foreign.application_id = other.app.id;
    foreign.event_types = vec![TYPE.into()];
    assert_eq!(store.update_subscription(&foreign).await.unwrap(), None);
}

pub async fn deleted_subscriptions_are_invisible(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let kept = t.subscribe(store, &[TYPE], &[]).await;
    let gone = t.subscribe(store, &[TYPE], &[]).await;

    assert!(!store
        .delete_subscription(Uuid::new_v4(), gone.id)
        .await
        .unwrap());
    assert!(store.delete_subscription(t.app.id, gone.id).await.unwrap());
    assert!(!store.delete_subscription(t.app.id, gone.id).await.unwrap());
    assert!(!store
        .delete_subscription(t.app.id, Uuid::new_v4())
        .await
        .unwrap());

    assert_eq!(store.get_subscription(gone.id).await.unwrap(), None);
    assert_eq!(
        store.list_subscriptions(t.app.id).await.unwrap(),
        vec![kept.clone()]
    );
    assert_eq!(store.update_subscription(&gone).await.unwrap(), None);
    // Deleted subscriptions receive nothing.
    let e = t.ingest(store, TYPE, &[]).await;
    let attempts = t.attempts_where(store, |f| f.event_id = Some(e.id)).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].subscription_id, kept.id);
}

/// Two pending attempts of `sub`, the first leased by a worker, and one of `bystander`.
async fn pending_attempts(db: &TestDb, t: &Tenant) -> (Subscription, Subscription) {
    let store = &*db.store;
    let sub = t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    let leased = claim(store, "w1", 10, LONG_LEASE).await;
    assert_eq!(leased.len(), 1);
    let bystander = t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;
    (sub, bystander)
}

/// Every attempt of `sub` failed.
async fn assert_failed(db: &TestDb, t: &Tenant, sub: &Subscription) {
    let attempts = t
        .attempts_where(&*db.store, |f| f.subscription_id = Some(sub.id))
        .await;
    assert!(!attempts.is_empty());
    for a in &attempts {
        assert!(a.failed_at.is_some(), "attempt {a:?} should have failed");
        assert_eq!(a.succeeded_at, None);
    }
}

/// What is due belongs to `bystander` only, and its attempt is still pending.
async fn assert_only_bystander_due(db: &TestDb, t: &Tenant, bystander: &Subscription) {
    let store = &*db.store;
    let theirs = t
        .attempts_where(store, |f| f.subscription_id = Some(bystander.id))
        .await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].failed_at, None);
    let due: Vec<Uuid> = claim_all(store)
        .await
        .iter()
        .map(|j| j.attempt.subscription_id)
        .collect();
    assert_eq!(due, [bystander.id]);
}

pub async fn disabling_fails_pending_attempts(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let (mut sub, bystander) = pending_attempts(db, &t).await;

    // An update that keeps it enabled leaves attempts alone.
    sub.description = Some("still on".into());
    store.update_subscription(&sub).await.unwrap().unwrap();
    let attempts = t
        .attempts_where(store, |f| f.subscription_id = Some(sub.id))
        .await;
    assert!(attempts.iter().all(|a| a.failed_at.is_none()));

    sub.is_enabled = false;
    let updated = store.update_subscription(&sub).await.unwrap().unwrap();
    assert!(!updated.is_enabled);
    assert_failed(db, &t, &sub).await;
    assert_only_bystander_due(db, &t, &bystander).await;
    // Disabled subscriptions receive nothing new.
    let e = t.ingest(store, TYPE, &[]).await;
    let attempts = t.attempts_where(store, |f| f.event_id = Some(e.id)).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].subscription_id, bystander.id);
}

pub async fn deleting_fails_pending_attempts(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let (sub, bystander) = pending_attempts(db, &t).await;
    assert!(store.delete_subscription(t.app.id, sub.id).await.unwrap());
    assert_failed(db, &t, &sub).await;
    assert_only_bystander_due(db, &t, &bystander).await;
}

pub async fn deleting_the_application_fails_pending_attempts(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let other = Tenant::create(store).await;
    other.subscribe(store, &[TYPE], &[]).await;
    let (sub, bystander) = pending_attempts(db, &t).await;
    other.ingest(store, TYPE, &[]).await;

    assert!(store.delete_application(t.app.id).await.unwrap());
    assert_failed(db, &t, &sub).await;
    assert_failed(db, &t, &bystander).await;
    // Other applications' work is untouched.
    let attempts = other.attempts(store).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].failed_at, None);
    let due = claim_all(store).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempt.application_id, other.app.id);
}
