//! `hook0 listen` end to end, with nothing beyond loopback: a real `hook0 serve` (its worker
//! hands relay deliveries over in memory), the CLI as a child process, and a local server that
//! answers 200, then 500, then is stopped. Checked: the printed lines, the attempts' statuses,
//! the signature verified with the printed secret, a retry reaching a listener that reconnected
//! with its token, and the temporary subscription gone after Ctrl-C (SIGINT).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hook0_testkit::wait_until;
use serde_json::{json, Value};
use support::{post_json, start};

const TOKEN: &str = "c_listenTest0123456789abcdefg";

#[derive(Clone, Default)]
struct Local {
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn local(State(local): State<Local>, headers: HeaderMap, body: Bytes) -> StatusCode {
    local.received.lock().unwrap().push((headers, body));
    StatusCode::from_u16(local.status.load(Ordering::SeqCst)).unwrap()
}

/// `hook0 listen` as a child process, its JSON lines read as they come.
struct Listener {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Listener {
    fn start(config: &std::path::Path, target: &str, keep: bool) -> Self {
        let mut args = vec![
            "listen",
            target,
            "-e",
            "billing.invoice.paid",
            "-l",
            "tenant=acme",
            "-o",
            "json",
            "--token",
            TOKEN,
        ];
        if keep {
            args.push("--keep");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_hook0"))
            .args(&args)
            .env("HOOK0_CONFIG_DIR", config)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(value);
                }
            }
        });
        Self { child, lines }
    }

    /// The next line of `kind` (others skipped), within `limit`.
    fn expect(&self, kind: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{kind}` line within {limit:?}"));
            if line["type"] == kind {
                return line;
            }
        }
    }

    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The attempts of one event, as the API lists them.
async fn attempts(
    http: &reqwest::Client,
    api: &str,
    app: &str,
    key: &str,
    event: &str,
) -> Vec<Value> {
    http.get(format!(
        "{api}/request_attempts?application_id={app}&event_id={event}"
    ))
    .bearer_auth(key)
    .send()
    .await
    .unwrap()
    .json::<Vec<Value>>()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_forwards_signed_deliveries_and_their_answers() {
    let data = tempfile::tempdir().unwrap();
    // Quick retries, and the SSRF guard on: relay deliveries never leave the process.
    let server = start(
        "serve",
        data.path(),
        &[
            ("RETRY_SCHEDULE", "1s"),
            ("DISABLE_TARGET_IP_CHECK", "false"),
        ],
    );
    let api = server.api.clone();
    let http = reqwest::Client::new();
    let (app_id, key) = support::application_with_key(&api).await;
    post_json(&http, &api, "/event_types", json!({"application_id": app_id, "service": "billing", "resource_type": "invoice", "verb": "paid"})).await;
    let config = tempfile::tempdir().unwrap();
    let login = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .args([
            "login",
            "--api-url",
            &api,
            "--application-id",
            &app_id,
            "--secret",
            &key,
        ])
        .env("HOOK0_CONFIG_DIR", config.path())
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );

    let local_server = Local::default();
    local_server.status.store(200, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/webhooks", post(local))
        .with_state(local_server.clone());
    let local_task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let send = |n: u32| {
        let (http, api, app_id, key) = (http.clone(), api.clone(), app_id.clone(), key.clone());
        async move {
            let sent: Value = http
                .post(format!("{api}/event"))
                .bearer_auth(&key)
                .json(
                    &json!({"application_id": app_id, "event_type": "billing.invoice.paid",
                    "payload": format!("{{\"n\":{n}}}"), "payload_content_type": "application/json",
                    "labels": {"tenant": "acme"}, "occurred_at": chrono::Utc::now()}),
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            sent["event_id"].as_str().unwrap().to_owned()
        }
    };
    let wait = Duration::from_secs(15);

    // Ready: one line with the relay URL, the secret and the subscription.
    let first = Listener::start(config.path(), &target, true);
    let ready = first.expect("ready", wait);
    let secret = ready["secret"].as_str().unwrap().to_owned();
    let subscription_id = ready["subscription_id"].as_str().unwrap().to_owned();
    assert!(ready["webhook_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/relay/in/{TOKEN}")));

    // 200: delivered, signed with the printed secret.
    let a = send(1).await;
    let line = first.expect("delivery", wait);
    assert_eq!(
        (line["event_id"].as_str(), line["status"].as_u64()),
        (Some(a.as_str()), Some(200))
    );
    {
        let received = local_server.received.lock().unwrap();
        let (headers, body) = received.last().unwrap();
        assert_eq!(body.as_ref(), b"{\"n\":1}");
        hook0_sdk::Webhook::new(&secret)
            .verify(headers, body)
            .expect("the signature verifies with the printed secret");
    }

    // 500 locally: a failed attempt, retried; the retry gets 200.
    local_server.status.store(500, Ordering::SeqCst);
    let b = send(2).await;
    let line = first.expect("delivery", wait);
    assert_eq!(
        (line["status"].as_u64(), line["attempt"].as_u64()),
        (Some(500), Some(1))
    );
    local_server.status.store(200, Ordering::SeqCst);
    let line = first.expect("delivery", wait);
    assert_eq!(line["event_id"], b.as_str());
    assert_eq!(
        (line["status"].as_u64(), line["attempt"].as_u64()),
        (Some(200), Some(2))
    );
    // The line is printed as the answer goes back: the outcome is recorded a moment later.
    wait_until("b's 500 then 200 recorded", wait, || async {
        let b_attempts = attempts(&http, &api, &app_id, &key, &b).await;
        let statuses: Vec<_> = b_attempts
            .iter()
            .map(|a| a["http_response_status"].as_i64())
            .collect();
        (statuses.contains(&Some(500)) && statuses.contains(&Some(200))).then_some(())
    })
    .await;

    // The listener goes away without cleaning up: the relay answers 503 and Hook0 retries;
    // a listener resuming with the token gets the retry, through the same subscription.
    drop(first);
    let c = send(3).await;
    wait_until(
        "a 503 recorded while the listener is away",
        wait,
        || async {
            let found = attempts(&http, &api, &app_id, &key, &c).await;
            found
                .iter()
                .any(|a| a["http_response_status"] == 503)
                .then_some(())
        },
    )
    .await;
    let second = Listener::start(config.path(), &target, false);
    let resumed = second.expect("ready", wait);
    assert_eq!(
        resumed["subscription_id"],
        subscription_id.as_str(),
        "resumed, not duplicated"
    );
    let line = second.expect("delivery", Duration::from_secs(30));
    assert_eq!(
        (line["event_id"].as_str(), line["status"].as_u64()),
        (Some(c.as_str()), Some(200))
    );

    // The local server stops: 502, a failed attempt.
    local_task.abort();
    let _ = local_task.await;
    let d = send(4).await;
    let line = second.expect("delivery", wait);
    assert_eq!(
        (line["event_id"].as_str(), line["status"].as_u64()),
        (Some(d.as_str()), Some(502))
    );

    // Ctrl-C: the temporary subscription is deleted.
    second.interrupt();
    let stopped = second.expect("stopped", wait);
    assert_eq!(stopped["subscription_kept"], false);
    let left: Vec<Value> = http
        .get(format!("{api}/subscriptions?application_id={app_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        left.iter()
            .all(|s| s["subscription_id"] != subscription_id.as_str()),
        "{left:?}"
    );
}
