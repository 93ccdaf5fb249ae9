//! Shared test fixtures: a real loopback receiver (axum) that records what it was sent, and a
//! real SQLite store in a temporary directory holding one application ready to route events.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response as HttpResponse};
use chrono::Utc;
use hook0_core::model::*;
use hook0_core::retry::RetryPolicy;
use hook0_store::sqlite::SqliteStore;
use hook0_store::{AttemptFilter, Store, StoreOptions};
use hook0_worker::{WorkerConfig, WorkerError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const EVENT_TYPE: &str = "billing.invoice.paid";

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// How the receiver answers its n-th request (0-based).
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Behaviour = dyn Fn(usize, &str) -> Reply + Send + Sync;

struct ReceiverState {
    seen: Mutex<Vec<Received>>,
    behaviour: Box<Behaviour>,
}

/// A webhook receiver on 127.0.0.1 with a random port.
pub struct Receiver {
    pub port: u16,
    state: Arc<ReceiverState>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver answering with `behaviour(request index, path)`.
    pub async fn start(behaviour: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(ReceiverState {
            seen: Mutex::new(Vec::new()),
            behaviour: Box::new(behaviour),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            port,
            state,
            server,
        }
    }

    /// A receiver that always answers 200.
    pub async fn ok() -> Self {
        Self::start(|_, _| Reply::status(200)).await
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn seen(&self) -> Vec<Received> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Waits until the receiver has seen `count` requests.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually(|| async {
            let seen = self.seen();
            (seen.len() >= count).then_some(seen)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResponse {
    let path = uri.path().to_owned();
    let index = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Received {
            method,
            path: path.clone(),
            headers,
            body: body.to_vec(),
        });
        seen.len() - 1
    };
    let reply = (state.behaviour)(index, &path);
    tokio::time::sleep(reply.delay).await;
    let mut response = (reply.status, reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().append(name, value.parse().unwrap());
    }
    response
}

/// Polls `check` every 20 ms until it yields a value; panics after 10 s.
pub async fn eventually<T, F, Fut>(check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Worker settings for tests: loopback allowed, fast retries without jitter, short waits.
pub fn test_config() -> WorkerConfig {
    WorkerConfig {
        name: "test-worker".into(),
        lease: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        disable_target_ip_check: true,
        retry: RetryPolicy {
            max_retries: 5,
            jitter_ratio: 0.0,
            jitter_max_spread: Duration::ZERO,
            schedule: vec![Duration::from_millis(50)],
        },
        poll_interval: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(2),
        ..WorkerConfig::default()
    }
}

/// A store with one organization, application and event type.
pub struct World {
    pub store: Arc<dyn Store>,
    pub application_id: Uuid,
    _dir: tempfile::TempDir,
}

pub fn labels() -> StringMap {
    StringMap::from([("env".to_owned(), "test".to_owned())])
}

impl World {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook0.db");
        let store = SqliteStore::open(path.to_str().unwrap(), &StoreOptions::default())
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let now = Utc::now();
        let org = Organization {
            id: Uuid::now_v7(),
            name: "acme".into(),
            created_at: now,
        };
        store.create_organization(&org).await.unwrap();
        let app = Application {
            id: Uuid::now_v7(),
            organization_id: org.id,
            name: "billing".into(),
            retention_days: None,
            created_at: now,
            deleted_at: None,
        };
        let secret = ApplicationSecret {
            token: Uuid::new_v4(),
            application_id: app.id,
            name: Some("Default".into()),
            created_at: now,
            deleted_at: None,
        };
        store.create_application(&app, &secret).await.unwrap();
        let (service, rest) = EVENT_TYPE.split_once('.').unwrap();
        let (resource_type, verb) = rest.split_once('.').unwrap();
        store
            .upsert_event_type(&EventType {
                application_id: app.id,
                service: service.into(),
                resource_type: resource_type.into(),
                verb: verb.into(),
                created_at: now,
                deactivated_at: None,
                schema: None,
            })
            .await
            .unwrap();
        Self {
            store,
            application_id: app.id,
            _dir: dir,
        }
    }

    /// Subscribes `url` (POST) to the event type, with these custom headers.
    pub async fn subscribe(&self, url: &str, headers: &[(&str, &str)]) -> Subscription {
        let now = Utc::now();
        let sub = Subscription {
            id: Uuid::now_v7(),
            application_id: self.application_id,
            is_enabled: true,
            event_types: vec![EVENT_TYPE.into()],
            description: None,
            secret: Uuid::new_v4(),
            metadata: StringMap::new(),
            labels: labels(),
            target: HttpTarget {
                method: "POST".into(),
                url: url.into(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            dedicated_workers: Vec::new(),
            ordering: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_subscription(&sub).await.unwrap();
        sub
    }

    /// Ingests a JSON event; returns its id.
    pub async fn ingest(&self, payload: &str) -> Uuid {
        let now = Utc::now();
        let event = Event {
            id: Uuid::now_v7(),
            application_id: self.application_id,
            event_type_name: EVENT_TYPE.into(),
            payload: payload.as_bytes().to_vec(),
            payload_content_type: PayloadContentType::Json,
            ip: None,
            metadata: StringMap::new(),
            labels: labels(),
            occurred_at: now,
            received_at: now,
        };
        let ingested = self.store.ingest_event(&event).await.unwrap();
        assert!(ingested.request_attempts > 0, "no subscription matched");
        event.id
    }

    /// All attempts of the application, oldest retry first.
    pub async fn attempts(&self) -> Vec<RequestAttempt> {
        let mut attempts = self
            .store
            .list_request_attempts(&AttemptFilter {
                application_id: self.application_id,
                limit: 50,
                ..AttemptFilter::default()
            })
            .await
            .unwrap();
        attempts.sort_by_key(|a| (a.subscription_id, a.retry_count));
        attempts
    }

    /// Waits until `count` attempts are finished (succeeded or failed) and none is pending.
    pub async fn wait_finished(&self, count: usize) -> Vec<RequestAttempt> {
        eventually(|| async {
            let attempts = self.attempts().await;
            let finished = |a: &RequestAttempt| a.succeeded_at.is_some() || a.failed_at.is_some();
            (attempts.len() == count && attempts.iter().all(finished)).then_some(attempts)
        })
        .await
    }

    pub async fn response(&self, attempt: &RequestAttempt) -> Response {
        let id = attempt.response_id.expect("attempt has a response");
        self.store
            .get_response(self.application_id, id)
            .await
            .unwrap()
            .expect("response stored")
    }

    /// Starts the worker; cancel the token and await the handle to stop it.
    pub fn spawn_worker(
        &self,
        config: WorkerConfig,
    ) -> (CancellationToken, JoinHandle<Result<(), WorkerError>>) {
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn(hook0_worker::run(
            self.store.clone(),
            config,
            shutdown.clone(),
        ));
        (shutdown, worker)
    }
}

/// Stops a worker and checks it returns promptly.
pub async fn stop(shutdown: CancellationToken, worker: JoinHandle<Result<(), WorkerError>>) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("worker stops within 10 s")
        .expect("worker task did not panic")
        .expect("worker returned Ok");
}
