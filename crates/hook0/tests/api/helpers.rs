//! What every API test starts with: [`spawn_app`] runs the real API (`hook0_api::serve`) and the
//! real delivery worker (`hook0_worker::run`) in-process, on a random loopback port, against a
//! fresh SQLite file (binary `api`) or a fresh PostgreSQL database (binary `api_postgres`); [`Receiver`] (from `hook0-testkit`, shared
//! with the worker and binary tests) is a loopback webhook endpoint that records what it is sent
//! and answers from a script. Helpers keep the tests reading like the reference they check.

#[path = "helpers/assertions.rs"]
mod assertions;
#[path = "helpers/identity.rs"]
mod identity;
#[path = "helpers/signature.rs"]
mod signature;
#[path = "helpers/smtp.rs"]
mod smtp;

pub use assertions::*;
pub use hook0_testkit::{wait_for, Received, Receiver, Reply};
pub use identity::*;
pub use signature::*;
pub use smtp::*;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use hook0_api::{ApiConfig, AppState};
use hook0_core::clock::Clock;
use hook0_core::retry::RetryPolicy;
use hook0_store::sqlite::SqliteStore;
use hook0_store::{Store, StoreOptions};
use hook0_worker::WorkerConfig;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The event type most tests ingest and subscribe to.
pub const EVENT_TYPE: &str = "billing.invoice.paid";

/// The retry schedule of test workers: short, and without jitter so that delays are exact.
pub fn test_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 5,
        jitter_ratio: 0.0,
        jitter_max_spread: Duration::ZERO,
        schedule: vec![
            Duration::from_millis(300),
            Duration::from_millis(600),
            Duration::from_millis(900),
        ],
    }
}

/// What [`spawn_app_with`] lets a test change before the app starts.
pub struct TestConfig {
    pub api: ApiConfig,
    pub worker: WorkerConfig,
    /// Without a worker, attempts stay pending: handy to observe them.
    pub run_worker: bool,
    /// More workers beside the first, on the same store (named `test-worker-2`, …).
    pub extra_workers: usize,
}

/// A running API + worker on its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub master_key: Uuid,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    shutdown: CancellationToken,
    _data_dir: tempfile::TempDir,
    /// The throwaway PostgreSQL database of a run on PostgreSQL, dropped with the app.
    database: Option<String>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(database) = self.database.take() {
            // Out of the test's runtime: a thread with its own, so Drop can wait for it.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut admin) = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                        ))
                        .execute(&mut admin)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The same test files build two binaries: `api` on SQLite, `api_postgres` on PostgreSQL (a
/// fresh database per test on 127.0.0.1:5432, dropped with the app).
fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "api_postgres"
}

const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh store on `clock` (the API's, so a test moving it moves both): a SQLite file in `dir`,
/// or a new PostgreSQL database (its name returned).
async fn fresh_store(dir: &std::path::Path, clock: Clock) -> (Arc<dyn Store>, Option<String>) {
    let options = StoreOptions {
        clock,
        ..StoreOptions::default()
    };
    if !on_postgres() {
        let path = dir.join("hook0.db");
        let store = SqliteStore::open(path.to_str().expect("utf-8 path"), &options)
            .await
            .expect("SQLite store opens");
        return (Arc::new(store), None);
    }
    use sqlx::Connection;
    let database = format!("hook0_api_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 (the api_postgres tests need it; .ci/run starts it)");
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let store = hook0_store::open(&url, &options)
        .await
        .expect("PostgreSQL store opens");
    (store, Some(database))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut TestConfig)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind API port");
    let addr = listener.local_addr().unwrap();
    let master_key = Uuid::new_v4();

    let mut config = TestConfig {
        api: ApiConfig {
            master_api_key: Some(master_key),
            app_url: format!("http://{addr}"),
            ..ApiConfig::default()
        },
        worker: WorkerConfig {
            name: "test-worker".into(),
            disable_target_ip_check: true,
            retry: test_retry_policy(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            lease: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(1),
            ..WorkerConfig::default()
        },
        run_worker: true,
        extra_workers: 0,
    };
    configure(&mut config);
    let (store, database) = fresh_store(data_dir.path(), config.api.clock.clone()).await;

    let shutdown = CancellationToken::new();
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config.api),
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        hook0_api::serve(listener, state, async move { stop.cancelled().await })
            .await
            .expect("API serves");
    });
    if config.run_worker {
        for n in 0..=config.extra_workers {
            let (store, stop) = (store.clone(), shutdown.clone());
            let mut worker = config.worker.clone();
            if n > 0 {
                worker.name = format!("{}-{}", worker.name, n + 1);
            }
            tokio::spawn(async move {
                hook0_worker::run(store, worker, stop)
                    .await
                    .expect("worker runs");
            });
        }
    }
    TestApp {
        addr,
        master_key,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        store,
        shutdown,
        _data_dir: data_dir,
        database,
    }
}

/// Ids of a fresh organization and application, and the application's `Default` secret.
#[derive(Clone, Debug)]
pub struct OrgApp {
    pub organization_id: String,
    pub application_id: String,
    pub secret: String,
}

/// An application wired for delivery: event type [`EVENT_TYPE`] and one subscription.
#[derive(Clone, Debug)]
pub struct Wired {
    pub org: OrgApp,
    pub application_id: String,
    pub subscription: Value,
    pub subscription_id: String,
    /// The subscription secret, the HMAC key of every signature.
    pub secret: String,
}

/// Calls the API with a given `Authorization` header (or none).
pub struct Caller<'a> {
    app: &'a TestApp,
    authorization: Option<String>,
}

impl Caller<'_> {
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.app.client.request(method, self.app.url(path));
        match &self.authorization {
            Some(value) => builder.header("Authorization", value),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }
}

impl TestApp {
    /// `http://addr/api/v1` + `path`; a path starting with `//` or `/api/` is taken as is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") || path.starts_with("//") {
            format!("http://{}{path}", self.addr)
        } else {
            format!("http://{}/api/v1{path}", self.addr)
        }
    }

    /// Calls as the master key.
    pub fn master(&self) -> Caller<'_> {
        self.with_token(&self.master_key.to_string())
    }

    /// Calls with `Authorization: Bearer <token>`.
    pub fn with_token(&self, token: &str) -> Caller<'_> {
        self.with_authorization(&format!("Bearer {token}"))
    }

    /// Calls with this exact `Authorization` value.
    pub fn with_authorization(&self, value: &str) -> Caller<'_> {
        Caller {
            app: self,
            authorization: Some(value.to_owned()),
        }
    }

    /// Calls without `Authorization`.
    pub fn anonymous(&self) -> Caller<'_> {
        Caller {
            app: self,
            authorization: None,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.master().request(method, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.master().get(path).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.master().delete(path).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.master().post(path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.master().put(path, body).await
    }

    pub async fn create_org(&self, name: &str) -> String {
        let org = expect_json(
            self.post("/organizations", &json!({ "name": name })).await,
            200,
        )
        .await;
        org["organization_id"].as_str().unwrap().to_owned()
    }

    pub async fn create_app(&self, organization_id: &str, name: &str) -> String {
        let body = json!({ "organization_id": organization_id, "name": name });
        let app = expect_json(self.post("/applications", &body).await, 201).await;
        app["application_id"].as_str().unwrap().to_owned()
    }

    /// A new organization holding one new application, and that application's `Default` secret.
    pub async fn create_org_app(&self) -> OrgApp {
        let organization_id = self.create_org("Acme Corp").await;
        let application_id = self.create_app(&organization_id, "Billing").await;
        let secrets = expect_json(
            self.get(&format!(
                "/application_secrets?application_id={application_id}"
            ))
            .await,
            200,
        )
        .await;
        let default = secrets
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Default")
            .expect("every new application has a secret named Default");
        OrgApp {
            organization_id,
            application_id,
            secret: default["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates (idempotently) an event type from its `service.resource_type.verb` name.
    pub async fn create_event_type(&self, application_id: &str, name: &str) -> Value {
        let parts: Vec<&str> = name.split('.').collect();
        let body = json!({
            "application_id": application_id,
            "service": parts[0],
            "resource_type": parts[1],
            "verb": parts[2],
        });
        expect_json(self.post("/event_types", &body).await, 201).await
    }

    /// A subscription body for [`EVENT_TYPE`] and label `tenant=acme`, POSTing to `target_url`.
    pub fn subscription_body(&self, application_id: &str, target_url: &str) -> Value {
        json!({
            "application_id": application_id,
            "is_enabled": true,
            "event_types": [EVENT_TYPE],
            "description": "Invoices to the accounting system",
            "labels": { "tenant": "acme" },
            "metadata": { "team": "finance" },
            "target": { "type": "http", "method": "POST", "url": target_url, "headers": {} },
        })
    }

    pub async fn create_subscription(&self, application_id: &str, target_url: &str) -> Value {
        self.create_subscription_with(&self.subscription_body(application_id, target_url))
            .await
    }

    pub async fn create_subscription_with(&self, body: &Value) -> Value {
        expect_json(self.post("/subscriptions", body).await, 201).await
    }

    /// An event body of type [`EVENT_TYPE`] with label `tenant=acme` and a JSON payload.
    pub fn event_body(&self, application_id: &str) -> Value {
        json!({
            "application_id": application_id,
            "event_type": EVENT_TYPE,
            "payload": "{\"invoice\":\"in_42\",\"amount\":4200}",
            "payload_content_type": "application/json",
            "labels": { "tenant": "acme" },
            "metadata": { "source": "tests" },
            "occurred_at": chrono::Utc::now(),
        })
    }

    /// Ingests the default event body; returns the `IngestedEvent`.
    pub async fn ingest(&self, application_id: &str) -> Value {
        self.ingest_with(&self.event_body(application_id)).await
    }

    pub async fn ingest_with(&self, body: &Value) -> Value {
        expect_json(self.post("/event", body).await, 201).await
    }

    /// Organization, application, event type and a subscription to `target_url`.
    pub async fn wire(&self, target_url: &str) -> Wired {
        self.wire_with(target_url, |_| {}).await
    }

    /// Like [`TestApp::wire`], letting the test adjust the subscription body.
    pub async fn wire_with(&self, target_url: &str, adjust: impl FnOnce(&mut Value)) -> Wired {
        let org = self.create_org_app().await;
        self.create_event_type(&org.application_id, EVENT_TYPE)
            .await;
        let mut body = self.subscription_body(&org.application_id, target_url);
        adjust(&mut body);
        let subscription = self.create_subscription_with(&body).await;
        Wired {
            application_id: org.application_id.clone(),
            org,
            subscription_id: subscription["subscription_id"].as_str().unwrap().to_owned(),
            secret: subscription["secret"].as_str().unwrap().to_owned(),
            subscription,
        }
    }

    /// One page of `GET /request_attempts?application_id=…&<extra>`.
    pub async fn attempts(&self, application_id: &str, extra: &str) -> Vec<Value> {
        let mut path = format!("/request_attempts?application_id={application_id}");
        if !extra.is_empty() {
            path.push('&');
            path.push_str(extra);
        }
        expect_json(self.get(&path).await, 200)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// The attempts of one event, oldest first.
    pub async fn event_attempts(&self, application_id: &str, event_id: &str) -> Vec<Value> {
        let mut attempts = self
            .attempts(application_id, &format!("event_id={event_id}"))
            .await;
        attempts.sort_by_key(|a| {
            (
                a["retry_count"].as_i64(),
                a["created_at"].as_str().map(str::to_owned),
            )
        });
        attempts
    }

    /// Waits until the event has an attempt for which `done` holds; returns all its attempts.
    pub async fn wait_for_attempts(
        &self,
        application_id: &str,
        event_id: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        wait_for(
            || async {
                let attempts = self.event_attempts(application_id, event_id).await;
                done(&attempts).then_some(attempts)
            },
            timeout,
        )
        .await
    }

    pub async fn response(&self, application_id: &str, response_id: &str) -> Value {
        expect_json(
            self.get(&format!(
                "/responses/{response_id}?application_id={application_id}"
            ))
            .await,
            200,
        )
        .await
    }
}

/// True when the attempt has finished (succeeded or failed).
pub fn finished(attempt: &Value) -> bool {
    !attempt["succeeded_at"].is_null() || !attempt["failed_at"].is_null()
}
