//! What only SQLite can show: a schema upgrade that rebuilds tables keeps every row.

use hook0_store::StoreOptions;
use rusqlite::{params, Connection};
use uuid::Uuid;

/// The migrations of a version-5 database, as an earlier release applied them.
const VERSION_5: [&str; 5] = [
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_delivery_protection.sql"),
    include_str!("../../migrations/sqlite/0003_identity.sql"),
    include_str!("../../migrations/sqlite/0004_claim_by_subscription.sql"),
    include_str!("../../migrations/sqlite/0005_events_per_day.sql"),
];

/// Migration 6 rebuilds `event` and `request_attempt` (event ids unique per application): a
/// careless rebuild would cascade-delete the attempts with the old `event` table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_to_per_application_event_ids_keeps_events_and_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hook0.db");
    let (org, app, sub, event, attempt) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        for (i, sql) in VERSION_5.iter().enumerate() {
            c.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .unwrap();
        }
        c.execute(
            "INSERT INTO organization VALUES (?, 'Acme', 0)",
            params![org],
        )
        .unwrap();
        c.execute(
            "INSERT INTO application (id, organization_id, name, created_at) VALUES (?, ?, 'Billing', 0)",
            params![app, org],
        )
        .unwrap();
        c.execute(
            "INSERT INTO event_type (application_id, name, service, resource_type, verb, created_at)
             VALUES (?, 'billing.invoice.paid', 'billing', 'invoice', 'paid', 0)",
            params![app],
        )
        .unwrap();
        c.execute(
            "INSERT INTO subscription (id, application_id, is_enabled, event_types, secret, metadata,
                 labels, target_method, target_url, target_headers, dedicated_workers, created_at, updated_at)
             VALUES (?, ?, 1, '[\"billing.invoice.paid\"]', ?, '{}', '{}', 'POST',
                     'https://example.com/hook', '{}', '[]', 0, 0)",
            params![sub, app, Uuid::new_v4()],
        )
        .unwrap();
        c.execute(
            "INSERT INTO event (id, application_id, event_type_name, payload, payload_content_type,
                 metadata, labels, occurred_at, received_at)
             VALUES (?, ?, 'billing.invoice.paid', X'7B7D', 'application/json', '{}', '{}', 0, 0)",
            params![event, app],
        )
        .unwrap();
        c.execute(
            "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                 due_at, retry_count, dead_lettered_at)
             VALUES (?, ?, ?, ?, 0, NULL, 3, 5)",
            params![attempt, app, event, sub],
        )
        .unwrap();
    }

    let store = hook0_store::open(&path.display().to_string(), &StoreOptions::default())
        .await
        .expect("the version-5 database upgrades");
    let stored = store
        .get_event(app, event)
        .await
        .unwrap()
        .expect("the event is kept");
    assert_eq!(stored.payload, b"{}");
    let attempts = store
        .list_request_attempts(&hook0_store::AttemptFilter {
            application_id: app,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "the attempt is kept: {attempts:?}");
    assert_eq!((attempts[0].id, attempts[0].retry_count), (attempt, 3));
    let letters = store
        .list_dead_letters(&hook0_store::DeadLetterFilter {
            application_id: app,
            subscription_id: None,
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "the dead letter is kept");
    drop(store);

    let c = Connection::open(&path).unwrap();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count() as i64;
    assert_eq!(version, files, "every migration ran");
    let broken: i64 = c
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0);
}
