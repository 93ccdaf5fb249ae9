//! What only the PostgreSQL store can show: processes woken by `NOTIFY`, migrations raced by
//! processes starting together, and a claim that never scans finished attempts.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hook0_core::model::now;
use hook0_store::{Store, StoreOptions};
use sqlx::{Connection, PgConnection, Row};

use crate::fixtures::*;
use crate::harness::EmptyPostgres;
use crate::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_is_woken_by_notify() {
    let db = TestDb::postgres().await;
    let worker_side = db.reopen().await;
    let t = Tenant::create(&*db.store).await;
    t.subscribe(&*db.store, &[TYPE], &[]).await;
    // The first wait starts the listener; give it time to subscribe.
    worker_side.wait_for_work(Duration::from_millis(500)).await;

    let waited = woken(&worker_side, t.ingest(&*db.store, TYPE, &[])).await;
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
    assert_eq!(claim(&*worker_side, "w", 10, LONG_LEASE).await.len(), 1);
}

/// Waits until `store` wakes, at most 10 s, after `by` ran; returns how long that took.
async fn woken(store: &Arc<dyn Store>, by: impl Future) -> Duration {
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            store.wait_for_work(Duration::from_secs(20)).await;
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    by.await;
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the store was woken")
        .unwrap()
}

/// Sessions of the test database currently listening for work.
async fn listeners(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_by_itself() {
    let db = TestDb::postgres().await;
    let worker_side = db.reopen().await;
    let t = Tenant::create(&*db.store).await;
    t.subscribe(&*db.store, &[TYPE], &[]).await;
    worker_side.wait_for_work(Duration::from_millis(300)).await;
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    assert_eq!(listeners(&mut admin).await, 1);

    // The listening session dies (PostgreSQL restarted, a proxy cut it): the worker is woken,
    // since notifications may have been lost, and the listener comes back.
    let killed = woken(&worker_side, async {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .execute(&mut admin)
        .await
        .unwrap();
    })
    .await;
    assert!(killed < Duration::from_secs(5), "woken after {killed:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while listeners(&mut admin).await == 0 {
        assert!(Instant::now() < deadline, "the listener did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Drain the wake-ups of the reconnection, then see a notification arrive again.
    worker_side.wait_for_work(Duration::from_millis(200)).await;
    worker_side.wait_for_work(Duration::from_millis(200)).await;
    let waited = woken(&worker_side, t.ingest(&*db.store, TYPE, &[])).await;
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_migrate_once() {
    let empty = EmptyPostgres::create().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = empty.url.clone();
            tokio::spawn(async move { hook0_store::open(&url, &StoreOptions::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("every process opens the store"));
    }
    for store in &stores {
        assert!(store.list_organizations().await.unwrap().is_empty());
    }
    let mut conn = PgConnection::connect(&empty.url).await.unwrap();
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM hook0_schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    // Every migration file, once each.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i32;
    assert_eq!(versions, (1..=files).collect::<Vec<_>>());
    conn.close().await.unwrap();

    // Without auto_migrate nothing is applied to a database that lacks the schema.
    let bare = EmptyPostgres::create().await;
    let options = StoreOptions {
        auto_migrate: false,
        ..StoreOptions::default()
    };
    let store = hook0_store::open(&bare.url, &options).await.unwrap();
    assert!(store.list_organizations().await.is_err());
}

/// The claim reads the partial index of due attempts, whatever number of finished ones the table
/// holds (the check, scaled down to keep the suite fast).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_never_scans_finished_attempts() {
    let db = TestDb::postgres().await;
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = t.subscribe(store, &[TYPE], &[]).await;
    for _ in 0..10 {
        t.ingest(store, TYPE, &[]).await;
    }
    let e = t.ingest(store, TYPE, &[]).await;

    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
             succeeded_at, retry_count)
         SELECT gen_random_uuid(), $1, $2, $3, $4, $4, 0 FROM generate_series(1, 100000)",
    )
    .bind(t.app.id)
    .bind(e.id)
    .bind(sub.id)
    .bind(now())
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("ANALYZE request_attempt")
        .execute(&mut conn)
        .await
        .unwrap();

    // The claim's first statement, the one that looks over the whole queue, planned as in the
    // claim's transaction (`begin_delivery`): bitmap scans priced out. Without that, ANALYZE's
    // random sample sometimes made the planner read the due index as a bitmap.
    sqlx::raw_sql("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: String = sqlx::query(&format!(
        "EXPLAIN (FORMAT TEXT) {}",
        hook0_store::postgres::survey_query()
    ))
    .bind(now())
    .bind(64i64)
    .bind(i64::from(hook0_store::fair_claim::SCAN_BUDGET))
    .bind(Vec::<uuid::Uuid>::new())
    .bind(8i64)
    .bind(8i64)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>(0) + "\n")
    .collect();
    // Every read of request_attempt goes through an index that holds pending attempts only
    // (`WHERE due_at IS NOT NULL`); which of them ANALYZE's random sample makes the planner
    // pick varies from run to run.
    const PENDING_ONLY: [&str; 3] = [
        "request_attempt_due",
        "request_attempt_subscription_pending",
        "request_attempt_leased",
    ];
    let scans: Vec<&str> = plan
        .lines()
        .filter(|line| line.contains(" on request_attempt"))
        .collect();
    assert!(!scans.is_empty(), "claim plan:\n{plan}");
    for scan in scans {
        assert!(
            PENDING_ONLY
                .iter()
                .any(|index| scan.contains(&format!("using {index} on request_attempt"))),
            "a read of request_attempt outside the pending-only indexes: {scan}\nclaim plan:\n{plan}"
        );
    }
    assert!(
        !plan.contains("Seq Scan on request_attempt"),
        "claim plan:\n{plan}"
    );
    conn.close().await.unwrap();

    assert_eq!(claim_all(store).await.len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_and_lock_timeouts_apply_to_every_connection() {
    let empty = EmptyPostgres::create().await;
    let options = StoreOptions {
        statement_timeout: Some(Duration::from_millis(1234)),
        lock_timeout: Some(Duration::from_millis(567)),
        ..StoreOptions::default()
    };
    let store = hook0_store::postgres::PostgresStore::open(&empty.url, &options)
        .await
        .unwrap();
    let row =
        sqlx::query("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(row.get::<String, _>(0), "1234ms");
    assert_eq!(row.get::<String, _>(1), "567ms");
    // A statement past the limit is reported as a retryable outage (the API's 503).
    let slow = sqlx::query("SELECT pg_sleep(2)")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(matches!(
        hook0_store::StoreError::from(slow),
        hook0_store::StoreError::Unavailable(_)
    ));
}

/// Offers the hand-off as an idle worker `worker` (up to `request`), runs `ingest`, and returns
/// what was handed off, or nothing once the wait (10 s) ended otherwise.
async fn hand_off<F: Future>(
    store: &Arc<dyn Store>,
    worker: &str,
    request: hook0_core::delivery::ClaimRequest,
    ingest: F,
) -> (Vec<hook0_core::delivery::DeliveryJob>, F::Output) {
    // Wake-ups left by earlier ingests would end the wait (and withdraw the offer) at once.
    store.wait_for_work(Duration::from_millis(1)).await;
    store.wait_for_work(Duration::from_millis(1)).await;
    let waiter = {
        let (store, worker) = (store.clone(), worker.to_owned());
        tokio::spawn(async move {
            store
                .wait_or_take_hand_off(&worker, &request, Duration::from_secs(10), false)
                .await
        })
    };
    // The offer stands once the waiter runs.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ingested = ingest.await;
    let jobs = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait ended")
        .unwrap();
    (jobs, ingested)
}

/// What the idle worker `near` is handed, offering `request`, when `t` ingests an event.
async fn handed_on_ingest(
    db: &TestDb,
    t: &Tenant,
    request: hook0_core::delivery::ClaimRequest,
) -> Vec<hook0_core::delivery::DeliveryJob> {
    hand_off(&db.store, "near", request, t.ingest(&*db.store, TYPE, &[]))
        .await
        .0
}

fn request(limit: u32, cap: u32) -> hook0_core::delivery::ClaimRequest {
    hook0_core::delivery::ClaimRequest {
        max_in_flight_per_subscription: cap,
        max_in_flight_per_fast_subscription: cap,
        ..hook0_core::delivery::ClaimRequest::unlimited(limit, LONG_LEASE)
    }
}

/// The worker of the ingesting process gets the new attempts leased in the ingest's
/// transaction: no claim finds them, and a fan-out beyond the worker's free slots leaves the
/// rest due for claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_is_handed_the_attempts_of_an_ingest() {
    let db = TestDb::postgres().await;
    let t = Tenant::create(&*db.store).await;
    t.subscribe(&*db.store, &[TYPE], &[]).await;
    let (jobs, e) = hand_off(
        &db.store,
        "near",
        request(10, 10),
        t.ingest(&*db.store, TYPE, &[]),
    )
    .await;
    assert_eq!(jobs.len(), 1, "the ingest handed its attempt off");
    assert_eq!(jobs[0].attempt.event_id, e.id);
    assert_eq!(jobs[0].event_type_name, TYPE);
    assert!(
        claim(&*db.store, "far", 10, LONG_LEASE).await.is_empty(),
        "the attempt is leased"
    );

    t.subscribe(&*db.store, &[TYPE], &[]).await;
    let (jobs, e) = hand_off(
        &db.store,
        "near",
        request(1, 10),
        t.ingest(&*db.store, TYPE, &[]),
    )
    .await;
    assert_eq!(jobs.len(), 1, "one free slot: one attempt handed off");
    let rest = claim(&*db.store, "far", 10, LONG_LEASE).await;
    assert_eq!(rest.len(), 1, "the other attempt stays due");
    assert_eq!(rest[0].attempt.event_id, e.id);
    assert_ne!(
        rest[0].attempt.subscription_id,
        jobs[0].attempt.subscription_id
    );
}

/// What a claim would not take is not handed off either: beyond the subscription's cap (other
/// workers' leases counted), behind older due attempts of the subscription, or into a circuit
/// that is not closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_off_keeps_the_claims_rules() {
    let db = TestDb::postgres().await;
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let sub = t.subscribe(store, &[TYPE], &[]).await;

    // Cap 1, and another worker holds one attempt of the subscription.
    t.ingest(store, TYPE, &[]).await;
    assert_eq!(claim(store, "far", 10, LONG_LEASE).await.len(), 1);
    let jobs = handed_on_ingest(&db, &t, request(10, 1)).await;
    assert!(jobs.is_empty(), "the cap is full");

    // The attempt left due is older than the next one: it goes first, by a claim.
    let jobs = handed_on_ingest(&db, &t, request(10, 10)).await;
    assert!(
        jobs.is_empty(),
        "an older attempt of the subscription is due"
    );
    assert_eq!(claim(store, "far", 10, LONG_LEASE).await.len(), 2);

    // An open circuit holds what it gets.
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO subscription_health (subscription_id, circuit_state, circuit_since,
             consecutive_failures, open_until, trips)
         VALUES ($1, 'open', $2, 5, $2 + interval '1 hour', 1)",
    )
    .bind(sub.id)
    .bind(now())
    .execute(&mut conn)
    .await
    .unwrap();
    let jobs = handed_on_ingest(&db, &t, request(10, 10)).await;
    assert!(jobs.is_empty(), "the circuit is open");
    assert!(
        claim(store, "far", 10, LONG_LEASE).await.is_empty(),
        "held by the circuit"
    );

    // Closed again, with nothing due before it: handed off.
    sqlx::query("UPDATE subscription_health SET circuit_state = 'closed', open_until = NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE request_attempt SET due_at = NULL WHERE due_at > $1 AND picked_at IS NULL")
        .bind(now())
        .execute(&mut conn)
        .await
        .unwrap();
    let jobs = handed_on_ingest(&db, &t, request(10, 10)).await;
    assert_eq!(jobs.len(), 1, "closed, under the cap, first in line");
}

/// A key's next event is never handed off while its head is in flight: only the head of a
/// key's line is due, handed off or claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_off_keeps_one_delivery_per_key() {
    let db = TestDb::postgres().await;
    let store = &*db.store;
    let t = Tenant::create(store).await;
    let mut sub = subscription(t.app.id, &[TYPE], &[]);
    sub.ordering = Some(hook0_core::model::Ordering {
        label: "invoice_id".into(),
        on_dead_letter: hook0_core::model::OnDeadLetter::Hold,
    });
    store.create_subscription(&sub).await.unwrap();
    let keyed = || t.ingest(store, TYPE, &[("invoice_id", "A")]);

    let (head, first) = hand_off(&db.store, "near", request(10, 10), keyed()).await;
    assert_eq!(head.len(), 1, "the key's head is handed off");
    assert_eq!(head[0].attempt.event_id, first.id);
    let (next, _) = hand_off(&db.store, "near", request(10, 10), keyed()).await;
    assert!(next.is_empty(), "the key's next event waits for its head");
    assert!(claim(store, "far", 10, LONG_LEASE).await.is_empty());

    record(store, &[outcome(&head[0], true, None)]).await;
    assert_eq!(
        claim(store, "far", 10, LONG_LEASE).await.len(),
        1,
        "then it is due"
    );
}

/// An event that creates no attempt leaves the idle worker's offer standing: the worker is not
/// woken for a claim that would find nothing, and the next event is handed off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_attempts_leaves_the_offer_standing() {
    let db = TestDb::postgres().await;
    let t = Tenant::create(&*db.store).await;
    t.subscribe(&*db.store, &[TYPE], &[]).await;
    // A new listener wakes its waiter once more after it settles (250 ms): not during the case.
    db.store.wait_for_work(Duration::from_millis(500)).await;
    let (jobs, e) = hand_off(&db.store, "near", request(10, 10), async {
        t.ingest(&*db.store, OTHER_TYPE, &[]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.ingest(&*db.store, TYPE, &[]).await
    })
    .await;
    assert_eq!(jobs.len(), 1, "still waiting, then handed the next event");
    assert_eq!(jobs[0].attempt.event_id, e.id);
}
