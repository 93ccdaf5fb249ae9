//! The Rust SDK (`hook0-sdk`) against the real `hook0 serve`: every typed call, a delivery
//! verified by its axum extractor, the problems the server answers (404, 409, 422, 429 with
//! `Retry-After`), and its retry rules. A 503 and a lost answer come from a loopback stub, the
//! real server giving neither on demand.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use hook0_sdk::{
    AttemptQuery, Client, EventToSend, RetryPolicy, SubscriptionSpec, Target, VerifiedWebhook,
    Webhook,
};
use serde_json::{json, Value};
use uuid::Uuid;

use support::start;

/// A receiver whose key is known once the subscription exists.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<RwLock<String>>,
    verified: Arc<AtomicUsize>,
}

impl FromRef<Receiver> for Webhook {
    fn from_ref(receiver: &Receiver) -> Webhook {
        Webhook::new(&receiver.secret.read().unwrap())
    }
}

async fn receive(State(receiver): State<Receiver>, webhook: VerifiedWebhook) -> StatusCode {
    let body: Value = webhook.json().unwrap();
    assert_eq!(body["invoice"], 42);
    receiver.verified.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// An application made with the master key, and its default API key.
async fn application(api: &str) -> (Uuid, String) {
    let (app_id, key) = support::application_with_key(api).await;
    (app_id.parse().unwrap(), key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_typed_call_and_a_verified_delivery() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[]);
    let (app, key) = application(&server.api).await;
    let client = Client::new(&server.api, &key).unwrap();

    assert_eq!(client.application(app).await.unwrap().name, "Billing");
    let created = client
        .upsert_event_types(app, &["billing.invoice.paid", "billing.invoice.sent"])
        .await
        .unwrap();
    assert_eq!(created, ["billing.invoice.paid", "billing.invoice.sent"]);
    assert!(client
        .upsert_event_types(app, &["billing.invoice.paid"])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(client.event_types(app).await.unwrap().len(), 2);

    let receiver = Receiver::default();
    let url = serve(
        Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone()),
    )
    .await;
    let subscription = client
        .create_subscription(&SubscriptionSpec {
            application_id: app,
            is_enabled: true,
            event_types: vec!["billing.invoice.paid".into()],
            description: Some("ledger".into()),
            labels: [("tenant".to_owned(), "acme".to_owned())].into(),
            metadata: Default::default(),
            ordering_label: None,
            ordering_on_dead_letter: None,
            target: Target::post(&format!("{url}/hook")),
        })
        .await
        .unwrap();
    *receiver.secret.write().unwrap() = subscription.secret.clone();
    assert_eq!(client.subscriptions(app).await.unwrap().len(), 1);

    let event = EventToSend::json(
        "billing.invoice.paid",
        &json!({ "invoice": 42 }),
        &[("tenant", "acme")],
    );
    let sent = client.send_event(app, &event).await.unwrap();
    assert_eq!(sent.event_id.get_version_num(), 7, "made on the client");
    assert!(sent.received_at.is_some());
    hook0_testkit::wait_until("the delivery verified", Duration::from_secs(5), || async {
        (receiver.verified.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    assert_eq!(receiver.verified.load(Ordering::SeqCst), 1, "verified once");
    // A forged request never reaches the handler.
    let forged = reqwest::Client::new()
        .post(format!("{url}/hook"))
        .header("x-hook0-signature", "t=1,v1=00")
        .body(r#"{"invoice":42}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(receiver.verified.load(Ordering::SeqCst), 1);

    let query = AttemptQuery {
        event_id: Some(sent.event_id),
        ..Default::default()
    };
    let attempts =
        hook0_testkit::wait_until("a successful attempt", Duration::from_secs(5), || async {
            let attempts = client.request_attempts(app, &query).await.unwrap();
            attempts
                .iter()
                .any(|a| a.status_type() == "successful")
                .then_some(attempts)
        })
        .await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status_type(), "successful");
    assert_eq!(client.events(app).await.unwrap()[0].event_id, sent.event_id);
    let stored = client.event(app, sent.event_id).await.unwrap();
    assert!(stored.payload.is_some());
    client.replay_event(app, sent.event_id).await.unwrap();

    // What the server refuses, as typed problems that say they are final.
    let once = client.clone().with_retry(RetryPolicy::none());
    let mut again = event.clone();
    again.event_id = Some(sent.event_id);
    let duplicate = once.send_event(app, &again).await.unwrap_err();
    assert_eq!(
        (duplicate.status(), duplicate.problem_id()),
        (Some(409), Some("EventAlreadyIngested"))
    );
    assert!(!duplicate.is_retryable());
    let mut unlabelled = event.clone();
    unlabelled.labels.clear();
    let invalid = client.send_event(app, &unlabelled).await.unwrap_err();
    assert_eq!(invalid.status(), Some(422), "{invalid}");
    assert!(!invalid.is_retryable());
    let missing = client.subscription(app, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
    let stranger = Client::new(&server.api, &Uuid::new_v4().to_string()).unwrap();
    let refused = stranger.event_types(app).await.unwrap_err();
    assert!(matches!(refused.status(), Some(401 | 403)), "{refused}");

    let disabled = client
        .set_subscription_enabled(app, subscription.subscription_id, false)
        .await
        .unwrap();
    assert!(!disabled.is_enabled);
    client
        .delete_subscription(app, subscription.subscription_id)
        .await
        .unwrap();
    assert!(client.subscriptions(app).await.unwrap().is_empty());
    client
        .delete_event_type(app, "billing.invoice.sent")
        .await
        .unwrap();
    assert_eq!(client.event_types(app).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_call_waits_for_retry_after_then_succeeds() {
    let data = tempfile::tempdir().unwrap();
    let server = start(
        "serve",
        data.path(),
        &[
            ("DISABLE_API_RATE_LIMITING", "false"),
            // Three calls for the set-up with the master key, then each token is limited.
            ("API_RATE_LIMITING_TOKEN_BURST_SIZE", "3"),
            ("API_RATE_LIMITING_TOKEN_REPLENISH_PERIOD_IN_MS", "1000"),
        ],
    );
    let (app, key) = application(&server.api).await;
    let once = Client::new(&server.api, &key)
        .unwrap()
        .with_retry(RetryPolicy::none());
    let patient = Client::new(&server.api, &key).unwrap();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(once.event_types(app).await);
    }
    let limited = answers
        .into_iter()
        .find_map(Result::err)
        .expect("the burst is spent");
    assert_eq!(limited.problem_id(), Some("RateLimited"));
    assert!(limited.is_retryable());
    assert!(
        matches!(
            &limited,
            hook0_sdk::Error::Api {
                retry_after: Some(_),
                ..
            }
        ),
        "{limited:?}"
    );
    // Within its 5 s budget the default policy waits as told and gets through.
    patient.event_types(app).await.unwrap();
}

/// A stub that answers each `POST /api/v1/event` with the next of `answers`.
async fn stub(answers: Vec<(u16, Value)>) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let answers = Arc::new(answers);
    let router = Router::new().route(
        "/api/v1/event",
        post(move || {
            let (calls, answers) = (seen.clone(), answers.clone());
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answers[n.min(answers.len() - 1)].clone();
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("retry-after", "0")],
                    Json(body),
                )
            }
        }),
    );
    (serve(router).await, calls)
}

fn problem(status: u16, id: &str) -> Value {
    json!({ "type": "", "status": status, "title": id, "detail": "", "id": id })
}

#[tokio::test]
async fn a_503_is_retried_and_a_duplicate_after_a_retry_is_success() {
    let app = Uuid::now_v7();
    let event = EventToSend::json("a.b.c", &json!({}), &[("k", "v")]);
    let ingested = json!({ "application_id": app, "event_id": Uuid::now_v7(), "received_at": "2026-01-01T00:00:00Z" });
    let (url, calls) = stub(vec![
        (503, problem(503, "ServiceUnavailable")),
        (201, ingested),
    ])
    .await;
    let client = Client::new(&url, "key").unwrap();
    client.send_event(app, &event).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The first attempt was stored but its answer lost: the retry's 409 means success.
    let (url, calls) = stub(vec![
        (503, problem(503, "ServiceUnavailable")),
        (409, problem(409, "EventAlreadyIngested")),
    ])
    .await;
    let client = Client::new(&url, "key").unwrap();
    let sent = client.send_event(app, &event).await.unwrap();
    assert_eq!(sent.received_at, None);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A final answer is not retried.
    let (url, calls) = stub(vec![(422, problem(422, "Validation"))]).await;
    let client = Client::new(&url, "key").unwrap();
    assert!(client.send_event(app, &event).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
