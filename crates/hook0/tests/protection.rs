//! Delivery protection through the REST API, with the real API and worker in-process on a fresh
//! SQLite file and loopback receivers: dead letters (list, retry one, redeliver in bulk),
//! auto-disable with its operational event (listed, and POSTed to the operator's webhook), and
//! Standard Webhooks signatures checked with an independent HMAC, across a secret rotation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hook0_api::{ApiConfig, AppState};
use hook0_core::circuit::CircuitPolicy;
use hook0_core::retry::RetryPolicy;
use hook0_store::sqlite::SqliteStore;
use hook0_store::{Store, StoreOptions};
use hook0_testkit::{Received, Receiver, Reply};
use hook0_worker::WorkerConfig;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const EVENT_TYPE: &str = "billing.invoice.paid";

/// The API and a worker on a fresh database.
struct App {
    api: String,
    key: Uuid,
    http: reqwest::Client,
    application_id: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        name: "protection-test".into(),
        disable_target_ip_check: true,
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        lease: Duration::from_secs(10),
        shutdown_grace: Duration::from_millis(200),
        poll_interval: Duration::from_millis(200),
        retry: RetryPolicy {
            max_retries: 2,
            jitter_ratio: 0.0,
            jitter_max_spread: Duration::ZERO,
            schedule: vec![Duration::from_millis(30)],
        },
        ..WorkerConfig::default()
    }
}

impl App {
    /// Starts API + worker, and creates an organization, an application and the event type.
    async fn start(worker: WorkerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook0.db");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(path.to_str().unwrap(), &StoreOptions::default())
                .await
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key = Uuid::new_v4();
        let state = AppState {
            store: store.clone(),
            config: Arc::new(ApiConfig {
                master_api_key: Some(key),
                app_url: format!("http://{addr}"),
                ..ApiConfig::default()
            }),
        };
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            hook0_api::serve(listener, state, async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        let stop = shutdown.clone();
        tokio::spawn(async move { hook0_worker::run(store, worker, stop).await.unwrap() });
        let mut app = Self {
            api: format!("http://{addr}/api/v1"),
            key,
            http: reqwest::Client::new(),
            application_id: String::new(),
            shutdown,
            _dir: dir,
        };
        let org = app
            .call(Method::POST, "/organizations", json!({"name": "acme"}))
            .await
            .1;
        let created = app
            .call(
                Method::POST,
                "/applications",
                json!({"organization_id": org["organization_id"], "name": "billing"}),
            )
            .await
            .1;
        app.application_id = created["application_id"].as_str().unwrap().to_owned();
        let (status, _) = app
            .call(
                Method::POST,
                "/event_types",
                json!({"application_id": app.application_id, "service": "billing",
                       "resource_type": "invoice", "verb": "paid"}),
            )
            .await;
        assert_eq!(status, 201);
        app
    }

    async fn call(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(self.key);
        if method != Method::GET {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, Value::Null).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Creates a subscription to `url`; `extra` fields are merged into the body.
    async fn subscribe(&self, url: &str, extra: Value) -> Value {
        let mut body = json!({
            "application_id": self.application_id, "is_enabled": true,
            "event_types": [EVENT_TYPE], "labels": {"env": "test"},
            "target": {"type": "http", "method": "POST", "url": url, "headers": {}}
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, created) = self.call(Method::POST, "/subscriptions", body).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    async fn ingest(&self, payload: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/event",
                json!({"application_id": self.application_id, "event_type": EVENT_TYPE,
                       "payload": payload, "payload_content_type": "application/json",
                       "labels": {"env": "test"}, "occurred_at": chrono::Utc::now()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["event_id"].as_str().unwrap().to_owned()
    }

    fn app_query(&self) -> String {
        format!("application_id={}", self.application_id)
    }
}

/// A loopback endpoint recording every request; answers 500 while the returned switch is on,
/// 200 once it is turned off.
async fn receiver(failing: bool) -> (Receiver, Arc<AtomicBool>) {
    let switch = Arc::new(AtomicBool::new(failing));
    let failing = switch.clone();
    let receiver = Receiver::answering(move |_| {
        Reply::status(if failing.load(Ordering::SeqCst) {
            500
        } else {
            200
        })
    })
    .await;
    (receiver, switch)
}

/// Polls `check` until it yields a value, naming `what` in the panic after the usual patience.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    hook0_testkit::wait_until(what, hook0_testkit::PATIENCE, check).await
}

#[tokio::test]
async fn dead_letters_are_listed_retried_and_redelivered_once() {
    let (target, target_failing) = receiver(true).await;
    let mut config = worker_config();
    config.circuit.failure_threshold = 0; // this test is about retries running out
    let app = App::start(config).await;
    let sub = app.subscribe(&target.url("/hook"), json!({})).await;
    let sub_id = sub["subscription_id"].as_str().unwrap().to_owned();
    let events = [
        app.ingest("1").await,
        app.ingest("2").await,
        app.ingest("3").await,
    ];

    // 2 retries: 3 failed attempts per event, then each event's last one is a dead letter.
    let path = format!("/dead_letters?{}&subscription_id={sub_id}", app.app_query());
    let letters = eventually("three dead letters", || async {
        let letters = app.get(&path).await;
        (letters.as_array().unwrap().len() == 3).then_some(letters)
    })
    .await;
    assert_eq!(target.requests().len(), 9);
    for letter in letters.as_array().unwrap() {
        assert_eq!(letter["retry_count"], 2);
        assert_eq!(letter["status"]["type"], "failed");
        assert!(letter["dead_lettered_at"].is_string());
        assert_eq!(letter["subscription"]["subscription_id"], sub_id.as_str());
    }
    assert_eq!(
        app.get(&format!("/dead_letters?{}", app.app_query()))
            .await
            .as_array()
            .unwrap()
            .len(),
        3,
        "listed per application too"
    );

    target_failing.store(false, Ordering::SeqCst);
    // One retried alone: a new attempt with retry_count 0.
    let one = letters[0]["request_attempt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"application_id": app.application_id});
    let (status, attempt) = app
        .call(
            Method::POST,
            &format!("/request_attempts/{one}/retry"),
            body.clone(),
        )
        .await;
    assert_eq!(status, 201, "{attempt}");
    assert_eq!(attempt["retry_count"], 0);
    assert_eq!(attempt["event_id"], letters[0]["event_id"]);
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/request_attempts/{one}/retry"),
            body.clone(),
        )
        .await;
    assert_eq!((status, problem["id"].as_str()), (422, Some("Validation")));
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/request_attempts/{}/retry", Uuid::new_v4()),
            body,
        )
        .await;
    assert_eq!((status, problem["id"].as_str()), (404, Some("NotFound")));

    // The rest in bulk: each once, however often it is asked.
    let redeliver = format!("/subscriptions/{sub_id}/dead_letters/redeliver");
    let since = json!({"application_id": app.application_id, "since": "2020-01-01T00:00:00Z"});
    let (status, count) = app.call(Method::POST, &redeliver, since.clone()).await;
    assert_eq!((status, count), (200, json!({"count": 2})));
    let (_, count) = app.call(Method::POST, &redeliver, since).await;
    assert_eq!(count, json!({"count": 0}));
    let (status, problem) = app
        .call(
            Method::POST,
            &redeliver,
            json!({"application_id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!((status, problem["id"].as_str()), (403, Some("Forbidden")));

    let per_event = eventually("every event delivered once more", || async {
        let per_event = target.per_event();
        (per_event.values().sum::<usize>() == 12).then_some(per_event)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.requests().len(), 12, "no extra delivery");
    for event in &events {
        assert_eq!(
            per_event[event], 4,
            "3 failures, then exactly one more delivery"
        );
    }
    assert!(app.get(&path).await.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_subscription_failing_for_too_long_is_disabled_and_the_operator_told() {
    let (target, _) = receiver(true).await; // failing for good
    let (operator, _) = receiver(false).await;
    let mut config = worker_config();
    config.retry.max_retries = 1000;
    config.circuit = CircuitPolicy {
        failure_threshold: 3,
        cooldown: Duration::from_millis(100),
        max_cooldown: Duration::from_millis(200),
    };
    config.auto_disable_after = Some(Duration::from_millis(600));
    config.operational_webhook_url = Some(operator.url("/ops").parse().unwrap());
    let app = App::start(config).await;
    let sub = app.subscribe(&target.url("/hook"), json!({})).await;
    let sub_id = sub["subscription_id"].as_str().unwrap().to_owned();
    assert_eq!(sub["circuit"]["state"], "closed");
    app.ingest("1").await;
    app.ingest("2").await;

    let disabled = eventually("the subscription disabled", || async {
        let sub = app.get(&format!("/subscriptions/{sub_id}")).await;
        (sub["is_enabled"] == false).then_some(sub)
    })
    .await;
    assert!(
        disabled["circuit"]["consecutive_failures"]
            .as_u64()
            .unwrap()
            >= 3
    );
    let events = app
        .get(&format!("/operational_events?{}", app.app_query()))
        .await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "api.subscription.disabled");
    assert_eq!(events[0]["payload"]["subscription_id"], sub_id.as_str());
    assert_eq!(events[0]["application_id"], app.application_id.as_str());

    // Its pending attempts failed as dead letters, one per event.
    let letters = app.get(&format!("/dead_letters?{}", app.app_query())).await;
    assert_eq!(letters.as_array().unwrap().len(), 2);
    let received = target.requests().len();

    // The operator's webhook got it.
    let sent = eventually("the operational webhook called", || async {
        operator.requests().into_iter().next()
    })
    .await;
    assert_eq!(sent.path, "/ops");
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["event_type"], "api.subscription.disabled");
    assert_eq!(sent["event_id"], events[0]["operational_event_id"]);
    assert_eq!(sent["payload"]["subscription_id"], sub_id.as_str());

    // Nothing more is sent to the disabled target; redelivery waits for it to be enabled.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.requests().len(), received);
    let redeliver = format!("/subscriptions/{sub_id}/dead_letters/redeliver");
    let (status, problem) = app
        .call(
            Method::POST,
            &redeliver,
            json!({"application_id": app.application_id}),
        )
        .await;
    assert_eq!((status, problem["id"].as_str()), (422, Some("Validation")));
    assert_eq!(operator.requests().len(), 1, "sent once");
}

/// The Standard Webhooks signature, computed here independently of `hook0_core`.
fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn secrets(subscription: &Value) -> Vec<String> {
    subscription["standard_webhooks_secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["secret"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks the Standard Webhooks headers of `seen` and returns its signatures.
fn check_standard(seen: &Received, event_id: &str) -> Vec<String> {
    let header = |name: &str| seen.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("webhook-id"), event_id);
    let timestamp = header("webhook-timestamp");
    let t: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 60);
    assert!(
        seen.headers.contains_key("x-hook0-signature"),
        "Hook0's signature stays"
    );
    header("webhook-signature")
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn standard_webhooks_signatures_verify_across_a_rotation() {
    let (target, _) = receiver(false).await;
    let app = App::start(worker_config()).await;
    let sub = app
        .subscribe(&target.url("/hook"), json!({"standard_webhooks": true}))
        .await;
    let sub_id = sub["subscription_id"].as_str().unwrap().to_owned();
    assert_eq!(sub["standard_webhooks"], true);
    let first = secrets(&sub);
    assert_eq!(first.len(), 1);
    assert!(first[0].starts_with("whsec_"));

    let event = app.ingest(r#"{"n":1}"#).await;
    let seen = eventually("first delivery", || async {
        target.requests().into_iter().next()
    })
    .await;
    let timestamp = seen.headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        check_standard(&seen, &event),
        [standard_signature(
            &first[0], &event, &timestamp, &seen.body
        )]
    );

    // Rotation: both secrets sign during the overlap, the new one first.
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/subscriptions/{sub_id}/secrets/rotate"),
            json!({"application_id": app.application_id, "overlap_secs": 1}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let both = secrets(&rotated);
    assert_eq!(both.len(), 2);
    assert_eq!(both[1], first[0]);
    assert!(rotated["standard_webhooks_secrets"][1]["expires_at"].is_string());
    let event = app.ingest(r#"{"n":2}"#).await;
    let seen = eventually("second delivery", || async {
        target.requests().get(1).cloned()
    })
    .await;
    let timestamp = seen.headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .to_owned();
    let expected: Vec<String> = both
        .iter()
        .map(|s| standard_signature(s, &event, &timestamp, &seen.body))
        .collect();
    assert_eq!(
        check_standard(&seen, &event),
        expected,
        "two signatures in one header"
    );

    // After the overlap only the new secret signs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let event = app.ingest(r#"{"n":3}"#).await;
    let seen = eventually("third delivery", || async {
        target.requests().get(2).cloned()
    })
    .await;
    let timestamp = seen.headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        check_standard(&seen, &event),
        [standard_signature(&both[0], &event, &timestamp, &seen.body)]
    );
    let current = app.get(&format!("/subscriptions/{sub_id}")).await;
    assert_eq!(secrets(&current), [both[0].clone()]);

    // A PUT without the field keeps it; `false` turns it off.
    let mut put = json!({
        "application_id": app.application_id, "is_enabled": true,
        "event_types": [EVENT_TYPE], "labels": {"env": "test"},
        "target": {"type": "http", "method": "POST", "url": target.url("/hook"), "headers": {}}
    });
    let (_, kept) = app
        .call(
            Method::PUT,
            &format!("/subscriptions/{sub_id}"),
            put.clone(),
        )
        .await;
    assert_eq!(kept["standard_webhooks"], true);
    put["standard_webhooks"] = json!(false);
    let (_, off) = app
        .call(Method::PUT, &format!("/subscriptions/{sub_id}"), put)
        .await;
    assert_eq!(off["standard_webhooks"], false);
    app.ingest(r#"{"n":4}"#).await;
    let seen = eventually("fourth delivery", || async {
        target.requests().get(3).cloned()
    })
    .await;
    assert!(!seen.headers.contains_key("webhook-signature"));
    assert!(seen.headers.contains_key("x-hook0-signature"));
}
