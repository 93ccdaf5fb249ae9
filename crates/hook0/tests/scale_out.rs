//! Scale-out on PostgreSQL with real processes: one `hook0 api` and two `hook0 worker` on one
//! database deliver everything once and share the work; a worker killed with SIGKILL loses
//! nothing, nor does a `hook0 serve` killed while it hands attempts off to its own worker; a
//! PostgreSQL restart under load loses nothing acknowledged.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;
use support::postgres::PrivatePostgres;
use support::{ingest, start, wire, Hook0, Receiver};

/// Ingests `count` events with `concurrency` parallel senders; returns the acknowledged ids.
async fn ingest_many(api: &str, app_id: &str, count: usize, concurrency: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, api, app_id, next, acknowledged) = (
            http.clone(),
            api.to_string(),
            app_id.to_string(),
            next.clone(),
            acknowledged.clone(),
        );
        senders.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                if let Some(id) = ingest(&http, &api, &app_id, n).await {
                    acknowledged.lock().unwrap().push(id);
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let ids = acknowledged.lock().unwrap().clone();
    ids
}

async fn attempts_per_worker(database_url: &str) -> Vec<(String, i64)> {
    let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query_as(
        "SELECT COALESCE(worker_name, ''), COUNT(*) FROM request_attempt GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_api_and_two_workers_deliver_every_event_once() {
    let pg = PrivatePostgres::start();
    let data = tempfile::tempdir().unwrap();
    let url = pg.url();
    let api = start("api", data.path(), &[("DATABASE_URL", &url)]);
    let _w1 = start(
        "worker",
        data.path(),
        &[
            ("DATABASE_URL", &url),
            ("WORKER_NAME", "w1"),
            ("CONCURRENT", "16"),
        ],
    );
    let _w2 = start(
        "worker",
        data.path(),
        &[
            ("DATABASE_URL", &url),
            ("WORKER_NAME", "w2"),
            ("CONCURRENT", "16"),
        ],
    );
    let receiver = Receiver::slow(Duration::from_millis(2)).await;
    let app_id = wire(&reqwest::Client::new(), &api.api, &receiver.url("/hook")).await;

    let acknowledged = ingest_many(&api.api, &app_id, 5_000, 32).await;
    assert_eq!(acknowledged.len(), 5_000, "every event is acknowledged");
    receiver
        .wait_for_events(&acknowledged, Duration::from_secs(60))
        .await;

    let duplicates: usize = receiver.per_event().values().map(|n| n - 1).sum();
    println!("5000 events, 2 workers: {duplicates} duplicate deliveries");
    assert_eq!(duplicates, 0, "no duplicates under normal operation");
    let per_worker = attempts_per_worker(&url).await;
    println!("attempts per worker: {per_worker:?}");
    for name in ["w1", "w2"] {
        let done = per_worker
            .iter()
            .find(|(w, _)| w == name)
            .map_or(0, |(_, n)| *n);
        assert!(done > 0, "worker {name} did no work: {per_worker:?}");
    }
}

/// Settings of processes on `database_url` whose leases run out within a test (3 s).
fn fast_lease(database_url: &str) -> [(&'static str, &str); 4] {
    [
        ("DATABASE_URL", database_url),
        ("TIMEOUT", "2s"),
        ("DELIVERY_LEASE", "3s"),
        ("CONCURRENT", "8"),
    ]
}

/// One `hook0 api` and two `hook0 worker` (`victim`, `survivor`) on `database_url`, with
/// leases short enough (3 s) for a killed worker's to run out within a test.
fn api_and_two_workers(database_url: &str, data: &std::path::Path) -> (Hook0, Hook0, Hook0) {
    let fast_lease = fast_lease(database_url);
    let worker = |name: &str| {
        start(
            "worker",
            data,
            &[fast_lease.as_slice(), &[("WORKER_NAME", name)]].concat(),
        )
    };
    (
        start("api", data, &fast_lease),
        worker("victim"),
        worker("survivor"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing() {
    let pg = PrivatePostgres::start();
    let data = tempfile::tempdir().unwrap();
    let (api, mut victim, _survivor) = api_and_two_workers(&pg.url(), data.path());
    let receiver = Receiver::slow(Duration::from_millis(40)).await;
    let app_id = wire(&reqwest::Client::new(), &api.api, &receiver.url("/hook")).await;

    let acknowledged = ingest_many(&api.api, &app_id, 600, 16).await;
    receiver
        .wait_for_requests(60, Duration::from_secs(30))
        .await;
    kill_mid_load(&mut victim, &receiver, &acknowledged).await;
}

/// Kills `process` with SIGKILL (no graceful release of its leases) while `receiver` still
/// misses some of `acknowledged`, then waits until every one of them is delivered.
async fn kill_mid_load(process: &mut Hook0, receiver: &Receiver, acknowledged: &[String]) {
    process.child.kill().unwrap();
    process.child.wait().unwrap();
    assert!(
        receiver.count() < acknowledged.len(),
        "the kill must land mid-load"
    );
    receiver
        .wait_for_events(acknowledged, Duration::from_secs(60))
        .await;
}

/// The hand-off across a crash: `hook0 serve` (API and worker in one process) leases new
/// attempts to its own idle worker in the ingest's transaction. Killed with SIGKILL mid-load,
/// the leases it held run out and the `hook0 worker` beside it delivers every acknowledged
/// event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_serve_loses_nothing_it_handed_off() {
    let pg = PrivatePostgres::start();
    let data = tempfile::tempdir().unwrap();
    let url = pg.url();
    let env = fast_lease(&url);
    let mut serve = start(
        "serve",
        data.path(),
        &[env.as_slice(), &[("WORKER_NAME", "near")]].concat(),
    );
    let _far = start(
        "worker",
        data.path(),
        &[env.as_slice(), &[("WORKER_NAME", "far")]].concat(),
    );
    let receiver = Receiver::slow(Duration::from_millis(40)).await;
    let app_id = wire(&reqwest::Client::new(), &serve.api, &receiver.url("/hook")).await;

    // One at a time first: the serve's worker is idle when each arrives.
    let mut acknowledged = ingest_many(&serve.api, &app_id, 20, 1).await;
    receiver
        .wait_for_events(&acknowledged, Duration::from_secs(30))
        .await;
    let handled = attempts_per_worker(&url).await;
    assert!(
        handled.iter().any(|(w, n)| w == "near" && *n > 0),
        "the serve's worker delivered: {handled:?}"
    );

    acknowledged.extend(ingest_many(&serve.api, &app_id, 400, 8).await);
    receiver
        .wait_for_requests(80, Duration::from_secs(30))
        .await;
    kill_mid_load(&mut serve, &receiver, &acknowledged).await;
}

/// Ordered delivery across processes: a worker killed with SIGKILL mid-delivery holds its
/// keys' heads under lease; the survivor delivers them once the lease runs out, and no key
/// ever sees a later event before an earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_keeps_every_keys_order() {
    const KEYS: usize = 8;
    const EACH: usize = 25;
    let pg = PrivatePostgres::start();
    let data = tempfile::tempdir().unwrap();
    let (api, mut victim, _survivor) = api_and_two_workers(&pg.url(), data.path());
    let receiver = Receiver::slow(Duration::from_millis(40)).await;
    let http = reqwest::Client::new();
    let app_id = wire(&http, &api.api, &receiver.url("/hook")).await;
    // The subscription orders by the label `key`.
    let subs: serde_json::Value = http
        .get(format!("{}/subscriptions?application_id={app_id}", api.api))
        .bearer_auth(support::MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub_id = subs[0]["subscription_id"].as_str().unwrap();
    let ordered = http
        .put(format!("{}/subscriptions/{sub_id}", api.api))
        .bearer_auth(support::MASTER_KEY)
        .json(&serde_json::json!({
            "application_id": app_id, "is_enabled": true, "event_types": ["s.r.v"],
            "labels": {"k": "v"}, "ordering_label": "key",
            "target": {"type": "http", "method": "POST", "url": receiver.url("/hook"), "headers": {}}
        }))
        .send()
        .await
        .unwrap();
    assert!(ordered.status().is_success(), "{}", ordered.status());

    // One sender per key, each waiting for its answer before the next.
    let mut senders = tokio::task::JoinSet::new();
    for k in 0..KEYS {
        let (http, api, app_id) = (http.clone(), api.api.clone(), app_id.clone());
        senders.spawn(async move {
            let mut sent = Vec::new();
            for seq in 0..EACH {
                let body = serde_json::json!({
                    "application_id": app_id, "event_type": "s.r.v",
                    "payload": format!("{{\"seq\":{seq}}}"), "payload_content_type": "application/json",
                    "labels": {"k": "v", "key": format!("key{k}")}, "occurred_at": chrono::Utc::now()
                });
                let answer: serde_json::Value = http
                    .post(format!("{api}/event"))
                    .bearer_auth(support::MASTER_KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                sent.push(answer["event_id"].as_str().unwrap().to_owned());
            }
            sent
        });
    }
    let mut place = std::collections::HashMap::new();
    let mut all = Vec::new();
    while let Some(sent) = senders.join_next().await {
        let sent = sent.unwrap();
        for (seq, id) in sent.iter().enumerate() {
            place.insert(id.clone(), (sent[0].clone(), seq));
        }
        all.extend(sent);
    }
    receiver
        .wait_for_requests(30, Duration::from_secs(30))
        .await;
    victim.child.kill().unwrap(); // SIGKILL: its leases run out on their own
    victim.child.wait().unwrap();
    assert!(receiver.count() < all.len(), "the kill must land mid-load");
    receiver
        .wait_for_events(&all, Duration::from_secs(90))
        .await;

    let mut per_key: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for id in receiver.event_ids() {
        let (key, seq) = place[&id].clone();
        per_key.entry(key).or_default().push(seq);
    }
    assert_eq!(per_key.len(), KEYS);
    for (key, seqs) in per_key {
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "key {key}: a later event arrived before an earlier one: {seqs:?}"
        );
        assert_eq!(seqs.last(), Some(&(EACH - 1)), "key {key}: {seqs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_loses_nothing_acknowledged() {
    let pg = PrivatePostgres::start();
    let data = tempfile::tempdir().unwrap();
    let url = pg.url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("TIMEOUT", "2s"),
        ("DELIVERY_LEASE", "3s"),
    ];
    let api = start("api", data.path(), &env);
    let _worker = start("worker", data.path(), &env);
    let receiver = Receiver::slow(Duration::from_millis(5)).await;
    let http = reqwest::Client::new();
    let app_id = wire(&http, &api.api, &receiver.url("/hook")).await;

    let load = tokio::spawn(ingest_many_slowly(api.api.clone(), app_id.clone()));
    tokio::time::sleep(Duration::from_millis(700)).await;
    pg.stop();
    // While the database is gone the API must refuse with 503 + Retry-After, never 201.
    let response = http
        .post(format!("{}/event", api.api))
        .bearer_auth(support::MASTER_KEY)
        .json(&serde_json::json!({
            "application_id": app_id, "event_type": "s.r.v", "payload": "{}",
            "payload_content_type": "application/json", "labels": {"k": "v"}, "occurred_at": chrono::Utc::now()
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "ingest while PostgreSQL is down");
    assert!(response.headers().contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.start_again();

    let acknowledged = load.await.unwrap();
    assert!(!acknowledged.is_empty());
    receiver
        .wait_for_events(&acknowledged, Duration::from_secs(60))
        .await;
}

/// Sends events for ~4 s at a modest pace, through the outage; returns the acknowledged ids.
async fn ingest_many_slowly(api: String, app_id: String) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for n in 0..400 {
        if let Some(id) = ingest(&http, &api, &app_id, n).await {
            acknowledged.push(id);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acknowledged
}
