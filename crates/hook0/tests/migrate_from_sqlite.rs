//! Moving an embedded install to PostgreSQL: `hook0 migrate --from <data dir>` copies every
//! organization, application, secret, event type, subscription, event, attempt and response, and
//! the server started on PostgreSQL answers as the SQLite one did.

mod support;

use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use support::{ingest, start, wire, Receiver, MASTER_KEY};

async fn get(http: &reqwest::Client, api: &str, path: &str) -> Value {
    let response = http
        .get(format!("{api}{path}"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_install_moves_to_postgres_whole() {
    let data = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let http = reqwest::Client::new();

    // An install with history, on SQLite.
    let sqlite = start("serve", data.path(), &[]);
    let app_id = wire(&http, &sqlite.api, &receiver.url("/hook")).await;
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(
            ingest(&http, &sqlite.api, &app_id, n)
                .await
                .expect("acknowledged"),
        );
    }
    receiver
        .wait_for_events(&ids, Duration::from_secs(20))
        .await;
    let q = format!("?application_id={app_id}");
    let before_events = get(&http, &sqlite.api, &format!("/events{q}")).await;
    let before_attempts = get(&http, &sqlite.api, &format!("/request_attempts{q}")).await;
    let before_subscriptions = get(&http, &sqlite.api, &format!("/subscriptions{q}")).await;
    let secrets = get(&http, &sqlite.api, &format!("/application_secrets{q}")).await;
    let one_event = get(&http, &sqlite.api, &format!("/events/{}{q}", ids[3])).await;
    drop(sqlite);

    // A new PostgreSQL database.
    let admin = std::env::var("HOOK0_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("hook0_move_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 is needed");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hook0"))
        .args(["migrate", "--from"])
        .arg(data.path())
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "migrate failed: {printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("request_attempt"),
        "progress names each table: {printed}"
    );

    let pg = start("serve", data.path(), &[("DATABASE_URL", &url)]);
    assert_eq!(
        get(&http, &pg.api, &format!("/events{q}")).await,
        before_events
    );
    assert_eq!(
        get(&http, &pg.api, &format!("/request_attempts{q}")).await,
        before_attempts
    );
    assert_eq!(
        get(&http, &pg.api, &format!("/subscriptions{q}")).await,
        before_subscriptions
    );
    assert_eq!(
        get(&http, &pg.api, &format!("/events/{}{q}", ids[3])).await,
        one_event
    );
    // The application secret still authenticates.
    let token = secrets[0]["token"].as_str().unwrap();
    let response = http
        .get(format!("{}/events{q}", pg.api))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A second copy into the same database is refused, not doubled.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_hook0"))
        .args(["migrate", "--from"])
        .arg(data.path())
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!again.status.success());
    drop(pg);

    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}
