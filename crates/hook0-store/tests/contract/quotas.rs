//! Creation quotas: checked in the creating transaction, so concurrent creates under one parent
//! never pass a limit together; a refused create writes nothing; no limit limits nothing.

use std::sync::Arc;

use hook0_core::identity::{Role, User};
use hook0_core::model::now;
use hook0_core::quota::Quota;
use hook0_store::{Store, StoreError, StoreResult};
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

/// Runs `creates` at once; how many succeeded (any other error than the quota fails the test).
async fn race<F>(creates: Vec<F>, quota: Quota) -> usize
where
    F: std::future::Future<Output = StoreResult<()>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for create in creates {
        tasks.spawn(create);
    }
    let mut passed = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(()) => passed += 1,
            Err(StoreError::QuotaReached(q)) if q == quota => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    passed
}

pub async fn concurrent_creates_never_pass_a_quota_together(db: &TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let t = Tenant::create(&*store).await;

    let subs = (0..12)
        .map(|_| {
            let (store, sub) = (store.clone(), subscription(t.app.id, &[TYPE], &[]));
            async move { store.create_subscription_within(&sub, Some(3)).await }
        })
        .collect();
    assert_eq!(race(subs, Quota::SubscriptionsPerApplication).await, 3);
    assert_eq!(store.list_subscriptions(t.app.id).await.unwrap().len(), 3);

    // The tenant already has one application.
    let apps = (0..8)
        .map(|i| {
            let store = store.clone();
            let (app, secret) = application(t.org.id, &format!("App {i}"));
            async move {
                store
                    .create_application_within(&app, &secret, Some(4))
                    .await
            }
        })
        .collect();
    assert_eq!(race(apps, Quota::ApplicationsPerOrganization).await, 3);
    assert_eq!(store.list_applications(t.org.id).await.unwrap().len(), 4);

    let mut users = Vec::new();
    for i in 0..6 {
        let user = User {
            id: Uuid::new_v4(),
            email: format!("member{i}@example.com"),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email_verified_at: None,
            created_at: now(),
        };
        store
            .register_user(&user, &organization(&format!("Personal {i}")), false)
            .await
            .unwrap();
        users.push(user.id);
    }
    let members = users
        .into_iter()
        .map(|user_id| {
            let (store, org) = (store.clone(), t.org.id);
            async move {
                store
                    .add_member_within(org, user_id, Role::Viewer, now(), Some(2))
                    .await
            }
        })
        .collect();
    assert_eq!(race(members, Quota::MembersPerOrganization).await, 2);
    assert_eq!(store.list_members(t.org.id).await.unwrap().len(), 2);
}

pub async fn event_types_count_active_ones_and_upserting_again_is_free(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await; // TYPE and OTHER_TYPE: two active types
    let third = event_type(t.app.id, "billing.invoice.sent");
    assert!(matches!(
        store.upsert_event_type_within(&third, Some(2)).await,
        Err(StoreError::QuotaReached(Quota::EventTypesPerApplication))
    ));
    assert!(store
        .get_event_type(t.app.id, "billing.invoice.sent")
        .await
        .unwrap()
        .is_none());
    // An active type upserted again takes no new place.
    store
        .upsert_event_type_within(&event_type(t.app.id, TYPE), Some(2))
        .await
        .unwrap();
    // A deactivated one frees its place.
    store
        .deactivate_event_type(t.app.id, OTHER_TYPE)
        .await
        .unwrap();
    store
        .upsert_event_type_within(&third, Some(2))
        .await
        .unwrap();
    // Without a limit, nothing is refused.
    store
        .upsert_event_type(&event_type(t.app.id, "billing.invoice.lost"))
        .await
        .unwrap();
    assert_eq!(store.list_event_types(t.app.id).await.unwrap().len(), 3);
}
