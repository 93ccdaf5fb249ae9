//! Organizations, applications, secrets and event types.

use chrono::TimeDelta;
use hook0_core::model::now;
use hook0_store::{ApplicationScope, StoreError};
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

pub async fn backend_answers_ping(db: &TestDb) {
    let store = &*db.store;
    store.ping().await.unwrap();
    let expected = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(store.backend(), expected);
}

pub async fn organizations_round_trip(db: &TestDb) {
    let store = &*db.store;
    assert!(store.list_organizations().await.unwrap().is_empty());
    let first = organization("First");
    let second = organization("Second");
    store.create_organization(&first).await.unwrap();
    store.create_organization(&second).await.unwrap();

    assert_eq!(
        store.get_organization(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_organization(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store.list_organizations().await.unwrap(),
        [first.clone(), second.clone()]
    );

    let renamed = store
        .rename_organization(first.id, "Renamed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(renamed.created_at, first.created_at);
    assert_eq!(
        store.get_organization(first.id).await.unwrap(),
        Some(renamed)
    );
    assert_eq!(
        store
            .rename_organization(Uuid::new_v4(), "x")
            .await
            .unwrap(),
        None
    );
}

pub async fn deleting_an_organization_needs_it_empty_and_purges_its_history(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    t.subscribe(store, &[TYPE], &[]).await;
    t.ingest(store, TYPE, &[]).await;

    assert!(matches!(
        store.delete_organization(t.org.id).await,
        Err(StoreError::OrganizationIsNotEmpty)
    ));
    assert!(store.get_organization(t.org.id).await.unwrap().is_some());

    assert!(store.delete_application(t.app.id).await.unwrap());
    assert!(store.delete_organization(t.org.id).await.unwrap());
    assert_eq!(store.get_organization(t.org.id).await.unwrap(), None);
    assert!(store.list_organizations().await.unwrap().is_empty());
    // The attempts went with it: nothing is left to deliver.
    assert_eq!(store.next_due_at().await.unwrap(), None);
    assert!(t.attempts(store).await.is_empty());

    assert!(!store.delete_organization(t.org.id).await.unwrap());
    assert!(!store.delete_organization(Uuid::new_v4()).await.unwrap());
}

pub async fn applications_round_trip_and_soft_delete(db: &TestDb) {
    let store = &*db.store;
    let org = organization("Acme");
    let other_org = organization("Other");
    store.create_organization(&org).await.unwrap();
    store.create_organization(&other_org).await.unwrap();
    let (first, first_secret) = application(org.id, "First");
    let (second, second_secret) = application(org.id, "Second");
    store
        .create_application(&first, &first_secret)
        .await
        .unwrap();
    store
        .create_application(&second, &second_secret)
        .await
        .unwrap();

    assert_eq!(
        store.get_application(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.list_applications(org.id).await.unwrap(),
        [first.clone(), second.clone()]
    );
    assert!(store
        .list_applications(other_org.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.count_applications(org.id).await.unwrap(), 2);
    assert_eq!(
        store.list_application_secrets(first.id).await.unwrap(),
        vec![first_secret.clone()]
    );
    let scope = ApplicationScope {
        application_id: first.id,
        organization_id: org.id,
    };
    assert_eq!(
        store.application_scope(first.id).await.unwrap(),
        Some(scope)
    );
    assert_eq!(
        store
            .application_by_secret(first_secret.token)
            .await
            .unwrap(),
        Some(scope)
    );
    assert_eq!(
        store.application_by_secret(Uuid::new_v4()).await.unwrap(),
        None
    );

    let updated = store
        .update_application(first.id, org.id, "Renamed", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.created_at, first.created_at);
    assert_eq!(
        store
            .update_application(first.id, other_org.id, "x", None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_application(Uuid::new_v4(), org.id, "x", None)
            .await
            .unwrap(),
        None
    );

    assert!(store.delete_application(first.id).await.unwrap());
    assert!(!store.delete_application(first.id).await.unwrap());
    assert!(!store.delete_application(Uuid::new_v4()).await.unwrap());
    assert_eq!(store.get_application(first.id).await.unwrap(), None);
    assert_eq!(store.list_applications(org.id).await.unwrap(), [second]);
    assert_eq!(store.count_applications(org.id).await.unwrap(), 1);
    assert_eq!(store.application_scope(first.id).await.unwrap(), None);
    assert_eq!(
        store
            .application_by_secret(first_secret.token)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_application(first.id, org.id, "again", None)
            .await
            .unwrap(),
        None
    );
}

pub async fn application_usage_counts_live_rows(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let other = Tenant::create(store).await;
    let sub = t.subscribe(store, &[TYPE], &[]).await;
    t.subscribe(store, &[TYPE], &[]).await;
    store.delete_subscription(t.app.id, sub.id).await.unwrap();
    store
        .deactivate_event_type(t.app.id, OTHER_TYPE)
        .await
        .unwrap();
    // One event yesterday, one today: `events_since` counts from the UTC day of `since`.
    let mut yesterday = event(t.app.id, TYPE, &[]);
    yesterday.received_at = now() - TimeDelta::days(1);
    store.ingest_event(&yesterday).await.unwrap();
    let before_last = now();
    t.ingest(store, TYPE, &[]).await;
    other.ingest(store, TYPE, &[]).await;

    let usage = store
        .application_usage(t.app.id, before_last)
        .await
        .unwrap();
    assert_eq!(usage.event_types, 1);
    assert_eq!(usage.subscriptions, 1);
    assert_eq!(usage.events, 2);
    assert_eq!(usage.events_since, 1);
    let usage = store
        .application_usage(t.app.id, before_last + TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(usage.events_since, 0);
    let unknown = store
        .application_usage(Uuid::new_v4(), before_last)
        .await
        .unwrap();
    assert_eq!(
        (unknown.event_types, unknown.subscriptions, unknown.events),
        (0, 0, 0)
    );
}

pub async fn secrets_round_trip_and_soft_delete(db: &TestDb) {
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let second = secret(t.app.id, None);
    store.create_application_secret(&second).await.unwrap();
    assert_eq!(
        store.list_application_secrets(t.app.id).await.unwrap(),
        [t.secret.clone(), second.clone()]
    );

    let renamed = store
        .rename_application_secret(t.app.id, second.token, Some("ci"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("ci"));
    let unnamed = store
        .rename_application_secret(t.app.id, second.token, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unnamed.name, None);
    let other_app = Uuid::new_v4();
    assert_eq!(
        store
            .rename_application_secret(other_app, second.token, Some("x"))
            .await
            .unwrap(),
        None
    );
    assert!(!store
        .delete_application_secret(other_app, second.token)
        .await
        .unwrap());

    // Looked up first, so a store that keeps answers must forget this one when it is revoked.
    assert_eq!(
        store
            .application_by_secret(second.token)
            .await
            .unwrap()
            .map(|scope| scope.application_id),
        Some(t.app.id)
    );
    assert!(store
        .delete_application_secret(t.app.id, second.token)
        .await
        .unwrap());
    assert!(!store
        .delete_application_secret(t.app.id, second.token)
        .await
        .unwrap());
    assert_eq!(
        store.list_application_secrets(t.app.id).await.unwrap(),
        vec![t.secret.clone()]
    );
    assert_eq!(
        store.application_by_secret(second.token).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .rename_application_secret(t.app.id, second.token, Some("x"))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .application_by_secret(t.secret.token)
        .await
        .unwrap()
        .is_some());
}

pub async fn event_types_are_listed_by_name_and_upsert_reactivates(db: &TestDb) {
    let store = &*db.store;
    let org = organization("Acme");
    store.create_organization(&org).await.unwrap();
    let (app, first_secret) = application(org.id, "Billing");
    store.create_application(&app, &first_secret).await.unwrap();

    // Names sort bytewise on both backends: upper case before lower case, '.' before letters.
    let names = ["b.x.y", "a.x.z", "B.x.y", "a.x.y", "a_b.x.y"];
    for name in names {
        let stored = store
            .upsert_event_type(&event_type(app.id, name))
            .await
            .unwrap();
        assert_eq!(stored.name(), name);
        assert_eq!(stored.deactivated_at, None);
    }
    let listed: Vec<String> = store
        .list_event_types(app.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.name())
        .collect();
    assert_eq!(listed, ["B.x.y", "a.x.y", "a.x.z", "a_b.x.y", "b.x.y"]);

    let original = store
        .get_event_type(app.id, "a.x.y")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(original.name(), "a.x.y");
    assert_eq!(store.get_event_type(app.id, "c.x.y").await.unwrap(), None);
    assert_eq!(
        store.get_event_type(Uuid::new_v4(), "a.x.y").await.unwrap(),
        None
    );

    assert!(store.deactivate_event_type(app.id, "a.x.y").await.unwrap());
    assert!(!store.deactivate_event_type(app.id, "a.x.y").await.unwrap());
    assert!(!store.deactivate_event_type(app.id, "c.x.y").await.unwrap());
    assert_eq!(store.get_event_type(app.id, "a.x.y").await.unwrap(), None);
    assert_eq!(store.list_event_types(app.id).await.unwrap().len(), 4);

    // Upsert of a deactivated type brings the original back.
    let mut again = event_type(app.id, "a.x.y");
    again.created_at = original.created_at + TimeDelta::seconds(5);
    let reactivated = store.upsert_event_type(&again).await.unwrap();
    assert_eq!(reactivated, original);
    assert_eq!(
        store.get_event_type(app.id, "a.x.y").await.unwrap(),
        Some(original)
    );
    assert_eq!(store.list_event_types(app.id).await.unwrap().len(), 5);
}

pub async fn an_event_type_schema_is_set_kept_by_upserts_and_removed(db: &TestDb) {
    let store = &*db.store;
    let tenant = Tenant::create(store).await;
    let schema = serde_json::json!({ "type": "object", "required": ["invoice_id"] });
    assert!(store
        .set_event_type_schema(tenant.app.id, TYPE, Some(&schema))
        .await
        .unwrap());
    let read = store
        .get_event_type(tenant.app.id, TYPE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.schema.as_ref(), Some(&schema));
    // Upstream's upsert, which knows nothing of schemas, leaves it in place.
    let again = store
        .upsert_event_type(&event_type(tenant.app.id, TYPE))
        .await
        .unwrap();
    assert_eq!(again.schema.as_ref(), Some(&schema));
    // An upsert carrying one replaces it.
    let mut with = event_type(tenant.app.id, TYPE);
    with.schema = Some(serde_json::json!({ "type": "object" }));
    let replaced = store.upsert_event_type(&with).await.unwrap();
    assert_eq!(replaced.schema, with.schema);
    assert!(store
        .set_event_type_schema(tenant.app.id, TYPE, None)
        .await
        .unwrap());
    assert_eq!(
        store
            .get_event_type(tenant.app.id, TYPE)
            .await
            .unwrap()
            .unwrap()
            .schema,
        None
    );
    assert!(!store
        .set_event_type_schema(tenant.app.id, "no.such.type", Some(&schema))
        .await
        .unwrap());
}
