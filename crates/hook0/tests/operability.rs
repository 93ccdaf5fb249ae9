//! Operability of the real binary: `/metrics` after a scripted scenario (exact counter moves),
//! its switch and key; `/api/v1/health` answering 503 when the database is unreachable (SQLite
//! locked by another process, PostgreSQL stopped); the OpenAPI document and its docs page; and
//! traces exported over OTLP to a collector.

mod support;

use hook0_testkit::wait_until;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use support::postgres::PrivatePostgres;
use support::{start, MASTER_KEY};

/// The samples of a Prometheus text exposition, keyed by `name{labels}` as printed.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(http: &reqwest::Client, base: &str) -> HashMap<String, f64> {
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    samples(&r.text().await.unwrap())
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// `http://127.0.0.1:PORT` from the printed `…/api/v1`.
fn base(api: &str) -> String {
    api.trim_end_matches("/api/v1").to_string()
}

/// A receiver whose `/flaky` answers 500 to the first delivery of each event and 200 after,
/// and whose `/dead` always answers 500.
async fn scripted_receiver() -> String {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/flaky",
            post(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let id = headers["x-event-id"].to_str().unwrap().to_string();
                    let mut seen = seen.lock().unwrap();
                    let n = seen.entry(id).or_insert(0);
                    *n += 1;
                    if *n == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route("/dead", post(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, &url).bearer_auth(MASTER_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_scripted_scenario_exactly() {
    let receiver = scripted_receiver().await;
    let data = tempfile::tempdir().unwrap();
    // One retry, one second after a failure, no jitter: the scenario ends within seconds.
    let server = start(
        "serve",
        data.path(),
        &[
            ("MAX_RETRIES", "1"),
            ("RETRY_SCHEDULE", "1s"),
            ("RETRY_JITTER_RATIO", "0"),
            ("RETRY_JITTER_MAX_SPREAD", "0s"),
        ],
    );
    let (api, base) = (server.api.clone(), base(&server.api));
    let http = reqwest::Client::new();
    let before = scrape(&http, &base).await;

    let org = call(
        &http,
        reqwest::Method::POST,
        format!("{api}/organizations"),
        Some(json!({"name": "Metrics"})),
    )
    .await;
    let app = call(
        &http,
        reqwest::Method::POST,
        format!("{api}/applications"),
        Some(json!({"organization_id": org["organization_id"], "name": "Metrics app"})),
    )
    .await;
    let app_id = app["application_id"].as_str().unwrap().to_string();
    let event_type =
        json!({"application_id": app_id, "service": "s", "resource_type": "r", "verb": "v"});
    call(
        &http,
        reqwest::Method::POST,
        format!("{api}/event_types"),
        Some(event_type),
    )
    .await;
    for (label, path) in [("flaky", "/flaky"), ("dead", "/dead")] {
        let subscription = json!({
            "application_id": app_id, "is_enabled": true, "event_types": ["s.r.v"], "labels": {"route": label},
            "target": {"type": "http", "method": "POST", "url": format!("{receiver}{path}"), "headers": {}}
        });
        call(
            &http,
            reqwest::Method::POST,
            format!("{api}/subscriptions"),
            Some(subscription),
        )
        .await;
    }
    let mut event_ids = Vec::new();
    for label in ["flaky", "dead"] {
        let event = json!({
            "application_id": app_id, "event_type": "s.r.v", "payload": "{}", "payload_content_type": "application/json",
            "labels": {"route": label}, "occurred_at": chrono::Utc::now()
        });
        let ingested = call(
            &http,
            reqwest::Method::POST,
            format!("{api}/event"),
            Some(event),
        )
        .await;
        event_ids.push(ingested["event_id"].as_str().unwrap().to_string());
    }
    call(
        &http,
        reqwest::Method::GET,
        format!("{api}/events/{}?application_id={app_id}", event_ids[0]),
        None,
    )
    .await;

    // flaky: 500 (retry scheduled) then 200; dead: 503 (retry scheduled) then 503 (given up).
    let finished = "a dead letter and a success in the metrics";
    let after = wait_until(finished, Duration::from_secs(30), || async {
        let m = scrape(&http, &base).await;
        (get(&m, "hook0_dead_letters_total") >= 1.0
            && get(&m, "hook0_delivery_attempts_total{outcome=\"success\"}") >= 1.0)
            .then_some(m)
    })
    .await;
    // Nothing else may be on its way.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = scrape(&http, &base).await;

    let moved = |series: &str| get(&settled, series) - get(&before, series);
    let app_series = format!("hook0_events_ingested_total{{application_id=\"{app_id}\"}}");
    assert_eq!(moved(&app_series), 2.0);
    assert_eq!(moved("hook0_ingest_duration_seconds_count"), 2.0);
    assert_eq!(
        moved("hook0_delivery_attempts_total{outcome=\"success\"}"),
        1.0
    );
    assert_eq!(
        moved("hook0_delivery_attempts_total{outcome=\"http_5xx\"}"),
        3.0
    );
    assert_eq!(
        moved("hook0_delivery_attempts_total{outcome=\"http_4xx\"}"),
        0.0
    );
    assert_eq!(moved("hook0_retries_scheduled_total"), 2.0);
    assert_eq!(moved("hook0_dead_letters_total"), 1.0);
    assert_eq!(moved("hook0_delivery_latency_seconds_count"), 1.0);
    assert!(
        get(&after, "hook0_delivery_latency_seconds_sum") >= 1.0,
        "the success came after a 1 s retry"
    );
    let route = |method: &str, route: &str, status: u16| {
        format!("hook0_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}")
    };
    assert_eq!(moved(&route("POST", "/api/v1/event", 201)), 2.0);
    assert_eq!(moved(&route("POST", "/api/v1/subscriptions", 201)), 2.0);
    // The route label is the template, never the id.
    assert_eq!(moved(&route("GET", "/api/v1/events/{id}", 200)), 1.0);
    assert!(
        !settled.keys().any(|k| k.contains(&event_ids[0])),
        "an id leaked into a label"
    );
    assert_eq!(
        moved("hook0_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/event\"}"),
        2.0
    );
    // The queue is empty again; its gauges are read at scrape time.
    for state in ["due", "delayed", "in_flight"] {
        assert_eq!(
            get(
                &settled,
                &format!("hook0_queue_attempts{{state=\"{state}\"}}")
            ),
            0.0,
            "{state}"
        );
    }
    assert_eq!(get(&settled, "hook0_queue_oldest_due_age_seconds"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_keyed_or_turned_off() {
    let http = reqwest::Client::new();
    let data = tempfile::tempdir().unwrap();
    let keyed = start("api", data.path(), &[("METRICS_KEY", "s3cret")]);
    let url = format!("{}/metrics", base(&keyed.api));
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{url}?key=s3cret"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(keyed);

    let data = tempfile::tempdir().unwrap();
    let off = start("api", data.path(), &[("METRICS_ENABLED", "false")]);
    let r = http
        .get(format!("{}/metrics", base(&off.api)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

async fn health(http: &reqwest::Client, api: &str) -> (u16, Value) {
    let r = http.get(format!("{api}/health")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn wait_for_health(http: &reqwest::Client, api: &str, status: u16) -> Value {
    let what = format!("health answering {status}");
    wait_until(&what, Duration::from_secs(30), || async {
        let (got, body) = health(http, api).await;
        (got == status).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_sqlite_is_locked_by_another_process() {
    let http = reqwest::Client::new();
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[("HEALTH_CHECK_TIMEOUT", "1s")]);
    let (status, body) = health(&http, &server.api).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], true);
    assert_eq!(body["worker_lag_seconds"], 0.0);
    assert_eq!(
        body["queue"],
        json!({"due": 0, "delayed": 0, "in_flight": 0})
    );

    // Another process takes the database's write lock and keeps it.
    let locker = rusqlite::Connection::open(data.path().join("hook0.db")).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = wait_for_health(&http, &server.api, 503).await;
    assert_eq!(body["database"], false);
    assert!(
        body["database_duration_ms"].as_u64().unwrap() >= 900,
        "{body}"
    );

    locker.execute_batch("ROLLBACK").unwrap();
    let body = wait_for_health(&http, &server.api, 200).await;
    assert_eq!(body["database"], true);
    assert_eq!(body["worker"], true, "`hook0 serve` runs a worker: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_postgresql_is_down() {
    let pg = PrivatePostgres::start();
    let http = reqwest::Client::new();
    let data = tempfile::tempdir().unwrap();
    let url = pg.url();
    let server = start(
        "api",
        data.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("HEALTH_CHECK_TIMEOUT", "2s"),
        ],
    );
    let (status, body) = health(&http, &server.api).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database_backend"], "postgres");
    assert_eq!(body["worker"], Value::Null, "`hook0 api` runs no worker");

    pg.stop();
    let body = wait_for_health(&http, &server.api, 503).await;
    assert_eq!(body["database"], false);
    assert_eq!(body["queue"], Value::Null);

    pg.start_again();
    wait_for_health(&http, &server.api, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_its_page_are_served() {
    let http = reqwest::Client::new();
    let data = tempfile::tempdir().unwrap();
    let server = start("api", data.path(), &[]);
    for path in ["/swagger.json", "//swagger.json/"] {
        let r = http
            .get(format!("{}{path}", server.api))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let doc: Value = r.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(
            doc["paths"]["/api/v1/event"]["post"]["operationId"],
            "events.ingest"
        );
    }
    let r = http
        .get(format!("{}/docs", server.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains("swagger.json") && page.contains("<script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported_over_otlp_when_configured() {
    type Export = (Option<String>, Option<String>, Vec<u8>);
    let exports: Arc<Mutex<Vec<Export>>> = Arc::default();
    let record = exports.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let header =
                    |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                record.lock().unwrap().push((
                    header("content-type"),
                    header("authorization"),
                    body.to_vec(),
                ));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    let data = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{addr}");
    let server = start(
        "serve",
        data.path(),
        &[
            ("OTLP_TRACES_ENDPOINT", endpoint.as_str()),
            ("OTLP_AUTHORIZATION", "Bearer collector-token"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("RUST_LOG", "info"),
        ],
    );
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/instance", server.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let span = "a span of the request at the collector";
    wait_until(span, Duration::from_secs(20), || async {
        let found = exports
            .lock()
            .unwrap()
            .iter()
            .any(|(content_type, authorization, body)| {
                content_type.as_deref() == Some("application/x-protobuf")
                    && authorization.as_deref() == Some("Bearer collector-token")
                    && body
                        .windows(b"GET /api/v1/instance".len())
                        .any(|w| w == b"GET /api/v1/instance")
            });
        found.then_some(())
    })
    .await;
}
