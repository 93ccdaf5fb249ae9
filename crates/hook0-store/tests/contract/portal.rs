//! The consumer portal's part of the store: sessions found by the hash of their secret, listed
//! while live, revoked once; and deliveries aimed at one subscription only.

use chrono::TimeDelta;
use hook0_core::model::*;
use hook0_core::portal::{
    hash_secret, new_secret, Capability, PortalSession, PortalTheme, ThemeMode,
};
use hook0_store::StoreError;
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

fn session(tenant: &Tenant, labels: &[(&str, &str)], secret: &str) -> PortalSession {
    let at = now();
    PortalSession {
        id: Uuid::new_v4(),
        organization_id: tenant.org.id,
        application_id: tenant.app.id,
        secret_hash: hash_secret(secret),
        labels: map(labels),
        capabilities: vec![Capability::View, Capability::Retry],
        allowed_origins: vec!["https://app.example.com".into()],
        theme: PortalTheme {
            accent: Some("#0a7".into()),
            logo_url: None,
            mode: ThemeMode::Dark,
        },
        created_at: at,
        expires_at: at + TimeDelta::hours(1),
        revoked_at: None,
    }
}

pub async fn sessions_are_found_by_secret_listed_while_live_and_revoked_once(db: &TestDb) {
    let store = &*db.store;
    let tenant = Tenant::create(store).await;
    let secret = new_secret();
    let live = session(&tenant, &[("tenant", "acme")], &secret);
    store.create_portal_session(&live).await.unwrap();
    let mut expired = session(&tenant, &[("tenant", "acme")], &new_secret());
    expired.expires_at = now() - TimeDelta::seconds(1);
    store.create_portal_session(&expired).await.unwrap();

    let found = store
        .portal_session_by_secret(&hash_secret(&secret))
        .await
        .unwrap()
        .expect("found by the hash of its secret");
    assert_eq!(found, live, "every field round-trips");
    assert!(store
        .portal_session_by_secret(&hash_secret(&new_secret()))
        .await
        .unwrap()
        .is_none());

    let listed = store
        .list_portal_sessions(tenant.app.id, now())
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [live.id]);

    let at = now();
    assert!(store.revoke_portal_session(live.id, at).await.unwrap());
    assert!(
        !store.revoke_portal_session(live.id, at).await.unwrap(),
        "once"
    );
    assert!(
        !store.revoke_portal_session(expired.id, at).await.unwrap(),
        "over already"
    );
    let revoked = store.get_portal_session(live.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(store
        .list_portal_sessions(tenant.app.id, now())
        .await
        .unwrap()
        .is_empty());

    // Sessions that ended before the cut-off go; the live one stays.
    let later = now() + TimeDelta::hours(2);
    let still_live = session(&tenant, &[("tenant", "acme")], &new_secret());
    let mut long = still_live.clone();
    long.expires_at = now() + TimeDelta::days(1);
    store.create_portal_session(&long).await.unwrap();
    assert_eq!(
        store.purge_portal_sessions(later, 1).await.unwrap(),
        1,
        "a batch"
    );
    assert_eq!(store.purge_portal_sessions(later, 100).await.unwrap(), 1);
    assert_eq!(store.purge_portal_sessions(later, 100).await.unwrap(), 0);
    assert!(store.get_portal_session(long.id).await.unwrap().is_some());

    // A deleted application takes its sessions with it.
    let other = session(&tenant, &[], &new_secret());
    store.create_portal_session(&other).await.unwrap();
    store.delete_application(tenant.app.id).await.unwrap();
    assert!(store.get_portal_session(other.id).await.unwrap().is_none());
}

pub async fn a_test_event_goes_to_one_subscription_only(db: &TestDb) {
    let store = &*db.store;
    let tenant = Tenant::create(store).await;
    let target = tenant
        .subscribe(store, &[TYPE], &[("tenant", "acme")])
        .await;
    let neighbour = tenant
        .subscribe(store, &[TYPE], &[("tenant", "acme")])
        .await;

    let event = event(tenant.app.id, TYPE, &[("tenant", "acme")]);
    let attempt_id = store
        .ingest_test_event(&event, target.id)
        .await
        .unwrap()
        .expect("queued");
    let attempts = tenant.attempts(store).await;
    assert_eq!(
        attempts.iter().map(|a| a.id).collect::<Vec<_>>(),
        [attempt_id],
        "one attempt, the one answered"
    );
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.subscription_id)
            .collect::<Vec<_>>(),
        [target.id],
        "never a fan-out to {}",
        neighbour.id
    );

    // A subscription of another application, or a disabled one, gets nothing and no event
    // is left behind.
    let stranger = Tenant::create(store).await;
    let theirs = stranger.subscribe(store, &[TYPE], &[]).await;
    let probe = crate::fixtures::event(tenant.app.id, TYPE, &[]);
    assert!(store
        .ingest_test_event(&probe, theirs.id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_event(tenant.app.id, probe.id)
        .await
        .unwrap()
        .is_none());
    let mut unknown_type = crate::fixtures::event(tenant.app.id, "nobody.knows.this", &[]);
    unknown_type.id = Uuid::new_v4();
    assert!(matches!(
        store.ingest_test_event(&unknown_type, target.id).await,
        Err(StoreError::EventTypeDoesNotExist(_))
    ));
    assert!(stranger.attempts(store).await.is_empty());
}

pub async fn a_resend_queues_one_attempt_for_one_subscription(db: &TestDb) {
    let store = &*db.store;
    let tenant = Tenant::create(store).await;
    let sub = tenant.subscribe(store, &[TYPE], &[]).await;
    let other = tenant.subscribe(store, &[TYPE], &[]).await;
    let event = tenant.ingest(store, TYPE, &[]).await;
    assert_eq!(tenant.attempts(store).await.len(), 2);

    let id = store
        .resend_event(tenant.app.id, event.id, sub.id, now())
        .await
        .unwrap()
        .expect("queued");
    let attempts = tenant.attempts(store).await;
    assert_eq!(attempts.len(), 3);
    let resent = attempts.iter().find(|a| a.id == id).unwrap();
    assert_eq!((resent.subscription_id, resent.retry_count), (sub.id, 0));
    assert!(
        attempts
            .iter()
            .filter(|a| a.subscription_id == other.id)
            .count()
            == 1
    );

    let stranger = Tenant::create(store).await;
    assert!(
        store
            .resend_event(stranger.app.id, event.id, sub.id, now())
            .await
            .unwrap()
            .is_none(),
        "another application's event is unknown"
    );
    assert!(store
        .resend_event(tenant.app.id, Uuid::new_v4(), sub.id, now())
        .await
        .unwrap()
        .is_none());
}

pub async fn a_subscription_secret_is_replaced_in_its_application_only(db: &TestDb) {
    let store = &*db.store;
    let tenant = Tenant::create(store).await;
    let sub = tenant.subscribe(store, &[TYPE], &[]).await;
    let stranger = Tenant::create(store).await;
    let fresh = Uuid::new_v4();
    assert!(!store
        .set_subscription_secret(stranger.app.id, sub.id, fresh, now())
        .await
        .unwrap());
    assert_eq!(
        store
            .get_subscription(sub.id)
            .await
            .unwrap()
            .unwrap()
            .secret,
        sub.secret
    );
    assert!(store
        .set_subscription_secret(tenant.app.id, sub.id, fresh, now())
        .await
        .unwrap());
    assert_eq!(
        store
            .get_subscription(sub.id)
            .await
            .unwrap()
            .unwrap()
            .secret,
        fresh
    );
}
