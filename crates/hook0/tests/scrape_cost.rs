//! What one `/metrics` scrape costs with 100 applications and 1,000 subscriptions (10 per
//! application), 100 ingested-event series and 10,000 attempts waiting in the queue (the API runs
//! without a worker, so the queue query counts them all). Ignored by default; run it on the
//! release build for the figure the README quotes:
//!
//! `cargo test --release -p hook0 --test scrape_cost -- --ignored --nocapture`

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{start, MASTER_KEY};

const APPLICATIONS: usize = 100;
const SUBSCRIPTIONS_PER_APPLICATION: usize = 10;
const EVENTS_PER_APPLICATION: usize = 10;
const SCRAPES: usize = 50;

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let r = http
        .post(&url)
        .bearer_auth(MASTER_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
async fn cost_of_one_scrape() {
    let data = tempfile::tempdir().unwrap();
    let server = start("api", data.path(), &[]);
    let api = server.api.clone();
    let http = reqwest::Client::new();
    let org = post(
        &http,
        format!("{api}/organizations"),
        json!({"name": "Scrape"}),
    )
    .await;
    for a in 0..APPLICATIONS {
        let app = post(
            &http,
            format!("{api}/applications"),
            json!({"organization_id": org["organization_id"], "name": format!("app {a}")}),
        )
        .await;
        let app_id = app["application_id"].as_str().unwrap().to_string();
        post(
            &http,
            format!("{api}/event_types"),
            json!({"application_id": app_id, "service": "s", "resource_type": "r", "verb": "v"}),
        )
        .await;
        for s in 0..SUBSCRIPTIONS_PER_APPLICATION {
            post(&http, format!("{api}/subscriptions"), json!({
                "application_id": app_id, "is_enabled": true, "event_types": ["s.r.v"], "labels": {"k": "v"},
                "target": {"type": "http", "method": "POST", "url": format!("https://example.com/{s}"), "headers": {}}
            }))
            .await;
        }
        for n in 0..EVENTS_PER_APPLICATION {
            post(&http, format!("{api}/event"), json!({
                "application_id": app_id, "event_type": "s.r.v", "payload": format!("{{\"n\":{n}}}"),
                "payload_content_type": "application/json", "labels": {"k": "v"}, "occurred_at": chrono::Utc::now()
            }))
            .await;
        }
    }

    let url = format!("{}/metrics", api.trim_end_matches("/api/v1"));
    let mut times = Vec::with_capacity(SCRAPES);
    let mut bytes = 0;
    for _ in 0..SCRAPES {
        let started = Instant::now();
        let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        times.push(started.elapsed());
        bytes = body.len();
        let text = String::from_utf8_lossy(&body);
        let due = format!(
            "hook0_queue_attempts{{state=\"due\"}} {}",
            APPLICATIONS * SUBSCRIPTIONS_PER_APPLICATION * EVENTS_PER_APPLICATION
        );
        assert!(
            text.contains(&due),
            "the queue gauge counts every pending attempt"
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let series =
        String::from_utf8_lossy(&http.get(&url).send().await.unwrap().bytes().await.unwrap())
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
    println!(
        "one /metrics scrape ({APPLICATIONS} applications, {} subscriptions, {} pending attempts): \
         median {:.2} ms, p90 {:.2} ms, max {:.2} ms; {bytes} bytes, {series} samples",
        APPLICATIONS * SUBSCRIPTIONS_PER_APPLICATION,
        APPLICATIONS * SUBSCRIPTIONS_PER_APPLICATION * EVENTS_PER_APPLICATION,
        ms(times[SCRAPES / 2]),
        ms(times[SCRAPES * 9 / 10]),
        ms(times[SCRAPES - 1]),
    );
}
