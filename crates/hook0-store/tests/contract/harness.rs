//! A fresh, empty store per test: a SQLite file in a temporary directory, or a PostgreSQL
//! database created for the test and dropped when the [`TestDb`] is (even when the test panics).

use std::sync::Arc;

use hook0_core::clock::Clock;
use hook0_store::{Store, StoreOptions};
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// The delivery queue's time: a case moves it forward (a lease running out, a cool-down
    /// ending) instead of sleeping.
    pub clock: Clock,
    /// What `hook0_store::open` was given: a second open reaches the same data.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] TempDir),
    Postgres { admin_url: String, database: String },
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = dir.path().join("hook0.db").display().to_string();
        let clock = Clock::manual();
        let store = open(&url, &clock).await;
        Self {
            store,
            clock,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    pub async fn postgres() -> Self {
        let empty = EmptyPostgres::create().await;
        let clock = Clock::manual();
        let store = open(&empty.url, &clock).await;
        Self {
            store,
            clock,
            url: empty.url,
            cleanup: empty.cleanup,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }

    /// Another store on the same database, as another process would open it.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        open(&self.url, &self.clock).await
    }
}

/// A fresh PostgreSQL database that nobody opened yet (no schema), dropped with this value.
pub struct EmptyPostgres {
    pub url: String,
    cleanup: Cleanup,
}

impl EmptyPostgres {
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let database = format!("hook0_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is unreachable at {admin_url} ({e}): the postgres contract tests need \
                 it (start it, or set HOOK0_TEST_POSTGRES_URL)"
            )
        });
        sqlx::raw_sql(&format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {database}: {e}"));
        let _ = admin.close().await;
        Self {
            url: with_database(&admin_url, &database),
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        }
    }
}

async fn open(url: &str, clock: &Clock) -> Arc<dyn Store> {
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    hook0_store::open(url, &options)
        .await
        .unwrap_or_else(|e| panic!("cannot open the store at {url}: {e}"))
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Cleanup::Postgres {
            admin_url,
            database,
        } = self
        else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of our own.
        let (admin_url, name) = (admin_url.clone(), database.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {database}: {dropped:?}");
        }
    }
}

fn admin_url() -> String {
    std::env::var("HOOK0_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// `admin_url` with its database name replaced by `database` (query parameters kept).
fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}
