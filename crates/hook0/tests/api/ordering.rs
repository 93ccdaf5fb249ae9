//! Ordered delivery per key, end to end: a subscription with `ordering_label` receives the
//! events of each key one at a time, in ingest order, from several workers, through random
//! failures and retries; a dead letter holds its key (or not) as the subscription says.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hook0_core::circuit::CircuitPolicy;
use hook0_core::retry::RetryPolicy;
use serde_json::{json, Value};

use crate::helpers::*;

const LABEL: &str = "invoice_id";

/// The key and place in its key carried by a delivery's payload.
fn key_and_seq(request: &Received) -> (String, u64) {
    let body: Value = serde_json::from_slice(&request.body).expect("a JSON payload");
    (
        body["key"].as_str().unwrap().to_owned(),
        body["seq"].as_u64().unwrap(),
    )
}

fn event(application_id: &str, key: &str, seq: usize) -> Value {
    json!({
        "application_id": application_id,
        "event_type": EVENT_TYPE,
        "payload": json!({ "key": key, "seq": seq }).to_string(),
        "payload_content_type": "application/json",
        "labels": { "tenant": "acme", LABEL: key },
        "occurred_at": chrono::Utc::now(),
    })
}

/// Retries every 20 ms, `max_retries` times, and a breaker that never opens (failures must
/// not pause the endpoint).
fn quick_retries(cfg: &mut TestConfig, max_retries: u32) {
    cfg.worker.retry = RetryPolicy {
        max_retries,
        jitter_ratio: 0.0,
        jitter_max_spread: Duration::ZERO,
        schedule: vec![Duration::from_millis(20)],
    };
    cfg.worker.circuit = CircuitPolicy {
        failure_threshold: 0,
        ..CircuitPolicy::default()
    };
}

#[tokio::test]
async fn each_key_arrives_in_ingest_order_through_random_failures_and_several_workers() {
    const KEYS: usize = 20;
    const EACH: usize = 50;
    // Many retries: random failures must not dead-letter.
    let app = spawn_app_with(|cfg| {
        quick_retries(cfg, 40);
        cfg.extra_workers = 2;
    })
    .await;
    // 30 % of the requests fail, chosen by a seeded generator (xorshift).
    let seed = Mutex::new(0x9e37_79b9_7f4a_7c15_u64);
    let receiver = Receiver::answering(move |_| {
        let mut x = seed.lock().unwrap();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        Reply::status(if *x % 100 < 30 { 503 } else { 200 })
    })
    .await;
    let wired = app
        .wire_with(&receiver.url("/ordered"), |sub| {
            sub["ordering_label"] = json!(LABEL);
        })
        .await;
    assert_eq!(wired.subscription["ordering_label"], LABEL);
    assert_eq!(wired.subscription["ordering_on_dead_letter"], "hold");

    // One sender per key, each waiting for its answer before sending the next.
    let mut senders = Vec::new();
    for k in 0..KEYS {
        let (client, url) = (app.client.clone(), app.url("/event"));
        let (auth, application_id) = (app.master_key.to_string(), wired.application_id.clone());
        senders.push(tokio::spawn(async move {
            for seq in 0..EACH {
                let answer = client
                    .post(&url)
                    .bearer_auth(&auth)
                    .json(&event(&application_id, &format!("inv_{k}"), seq))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 201);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }

    let succeeded = |requests: &[Received]| requests.iter().filter(|r| r.answered == 200).count();
    let requests = wait_for(
        || async {
            let requests = receiver.requests();
            (succeeded(&requests) >= KEYS * EACH).then_some(requests)
        },
        Duration::from_secs(120),
    )
    .await;
    let failures = requests.len() - succeeded(&requests);
    assert!(failures > KEYS * EACH / 5, "about 30 % failed: {failures}");

    // Per key, in arrival order: never a later event before the earlier one succeeded.
    let mut per_key: BTreeMap<String, Vec<(u64, u16)>> = BTreeMap::new();
    for r in &requests {
        let (key, seq) = key_and_seq(r);
        per_key.entry(key).or_default().push((seq, r.answered));
    }
    assert_eq!(per_key.len(), KEYS);
    for (key, arrivals) in per_key {
        let mut expected = 0;
        for (seq, answered) in &arrivals {
            assert_eq!(
                *seq, expected,
                "{key}: event {seq} arrived while {expected} was not yet delivered: {arrivals:?}"
            );
            if *answered == 200 {
                expected += 1;
            }
        }
        assert_eq!(expected, EACH as u64, "{key}: every event delivered once");
    }
}

#[tokio::test]
async fn a_held_key_waits_for_its_dead_letter_while_other_keys_flow() {
    let app = spawn_app_with(|cfg| quick_retries(cfg, 1)).await;
    // The endpoint refuses key `stuck` until it is repaired.
    let repaired = Arc::new(AtomicBool::new(false));
    let fixed = repaired.clone();
    let receiver = Receiver::answering(move |r| {
        let (key, _) = key_and_seq(r);
        let broken = key == "stuck" && !fixed.load(SeqCst);
        Reply::status(if broken { 500 } else { 200 })
    })
    .await;
    let wired = app
        .wire_with(&receiver.url("/ordered"), |sub| {
            sub["ordering_label"] = json!(LABEL);
        })
        .await;
    let app_id = &wired.application_id;
    for seq in 0..2 {
        app.ingest_with(&event(app_id, "stuck", seq)).await;
    }
    for seq in 0..3 {
        app.ingest_with(&event(app_id, "free", seq)).await;
    }

    // `free` is delivered in full; `stuck` twice (its first event and the retry), no more.
    let path = format!(
        "/subscriptions/{}/ordering_keys?application_id={app_id}",
        wired.subscription_id
    );
    let keys = wait_for(
        || async {
            let keys = expect_json(app.get(&path).await, 200).await;
            let only_held = keys.as_array().unwrap().len() == 1 && keys[0]["state"] == "held";
            only_held.then_some(keys)
        },
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(keys[0]["key"], "stuck");
    assert_eq!(keys[0]["waiting"], 1);
    assert!(keys[0]["held_since"].is_string());
    let dead_letter = keys[0]["held_by_attempt_id"].as_str().unwrap().to_owned();
    let delivered = receiver.wait_for_requests(5, Duration::from_secs(10)).await;
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &delivered {
        let (key, seq) = key_and_seq(r);
        seen.entry(key).or_default().push(seq);
    }
    assert_eq!(seen["free"], [0, 1, 2]);
    assert_eq!(seen["stuck"], [0, 0]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 5, "stuck's next event waits");
    // The attempt waiting its turn is pending, with its key.
    let attempts = app.attempts(app_id, "").await;
    let waiting: Vec<&Value> = attempts
        .iter()
        .filter(|a| a["status"]["type"] == "pending")
        .collect();
    assert_eq!(waiting.len(), 1, "{attempts:?}");
    assert_eq!(waiting[0]["ordering_key"], "stuck");

    // Repaired and redelivered: the dead letter goes first, then the one that waited.
    repaired.store(true, SeqCst);
    let retried = app
        .post(
            &format!("/request_attempts/{dead_letter}/retry"),
            &json!({ "application_id": app_id }),
        )
        .await;
    assert!(retried.status().is_success(), "{}", retried.status());
    let all = receiver.wait_for_requests(7, Duration::from_secs(10)).await;
    let tail: Vec<(String, u64)> = all[5..].iter().map(key_and_seq).collect();
    assert_eq!(tail, [("stuck".into(), 0), ("stuck".into(), 1)]);
    wait_for(
        || async {
            let keys = expect_json(app.get(&path).await, 200).await;
            keys.as_array().unwrap().is_empty().then_some(())
        },
        Duration::from_secs(10),
    )
    .await;

    // Under `continue`, a dead letter lets the next of its key go.
    repaired.store(false, SeqCst);
    let mut body = app.subscription_body(app_id, &receiver.url("/ordered"));
    body["ordering_on_dead_letter"] = json!("continue");
    let updated = expect_json(
        app.put(&format!("/subscriptions/{}", wired.subscription_id), &body)
            .await,
        200,
    )
    .await;
    assert_eq!(updated["ordering_label"], LABEL, "left out on PUT: kept");
    assert_eq!(updated["ordering_on_dead_letter"], "continue");
    for seq in 2..4 {
        app.ingest_with(&event(app_id, "stuck", seq)).await;
    }
    // 2 fails twice (dead letter), then 3 fails twice too: both were tried.
    let all = receiver
        .wait_for_requests(11, Duration::from_secs(10))
        .await;
    let tail: Vec<u64> = all[7..].iter().map(|r| key_and_seq(r).1).collect();
    assert_eq!(tail, [2, 2, 3, 3]);
}

#[tokio::test]
async fn ordering_fields_are_checked_and_null_turns_ordering_off() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let mut body = app.subscription_body(&org.application_id, "https://example.com/hook");
    body["ordering_label"] = json!("");
    body["ordering_on_dead_letter"] = json!("skip");
    let refused = app.post("/subscriptions", &body).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let text = problem.to_string();
    assert!(
        text.contains("ordering_label") && text.contains("ordering_on_dead_letter"),
        "{text}"
    );
    let listed = expect_json(
        app.get(&format!(
            "/subscriptions?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert!(listed.as_array().unwrap().is_empty(), "nothing created");

    body["ordering_label"] = json!(LABEL);
    body["ordering_on_dead_letter"] = json!("continue");
    let created = app.create_subscription_with(&body).await;
    assert_eq!(created["ordering_label"], LABEL);
    let id = created["subscription_id"].as_str().unwrap();
    body["ordering_label"] = Value::Null;
    let off = expect_json(app.put(&format!("/subscriptions/{id}"), &body).await, 200).await;
    assert!(off["ordering_label"].is_null());
    // Without ordering, the keys list is empty.
    let keys = expect_json(
        app.get(&format!(
            "/subscriptions/{id}/ordering_keys?application_id={}",
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(keys, json!([]));
}
