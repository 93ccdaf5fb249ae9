//! Shared test fixtures: the loopback receiver and poller every crate's tests use
//! (`hook0-testkit`), and a real SQLite store in a temporary directory holding one application
//! ready to route events.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hook0_core::model::*;
use hook0_core::retry::RetryPolicy;
use hook0_store::sqlite::SqliteStore;
use hook0_store::{AttemptFilter, Store, StoreOptions};
use hook0_worker::{WorkerConfig, WorkerError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

// Each test binary uses a part of the kit.
#[allow(unused_imports)]
pub use hook0_testkit::{eventually, wait_until, Received, Receiver, Reply, PATIENCE};

pub const EVENT_TYPE: &str = "billing.invoice.paid";

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

    /// The same database opened again, as another process would: its writes wake none of the
    /// waiters of [`World::store`].
    pub async fn other_process(&self) -> World {
        let path = self._dir.path().join("hook0.db");
        let store = SqliteStore::open(path.to_str().unwrap(), &StoreOptions::default())
            .await
            .unwrap();
        World {
            store: Arc::new(store),
            application_id: self.application_id,
            _dir: tempfile::tempdir().unwrap(),
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
