//! Delivery protection end to end (real SQLite store, real dispatch loop, real loopback
//! receiver): a hanging endpoint does not slow the healthy ones, and a failing endpoint's
//! circuit opens, probes and closes without a request while open or a retry spent on it.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use hook0_core::circuit::{CircuitPolicy, CircuitState};
use hook0_core::retry::RetryPolicy;
use uuid::Uuid;

/// One request as the receiver saw it, by target (the path without its `/`).
#[derive(Clone, Debug)]
struct Hit {
    target: String,
    event_id: Uuid,
    at: DateTime<Utc>,
}

/// A loopback receiver serving `/{target}` that answers `script(target, n)` (status and delay)
/// for the target's n-th request (0-based).
async fn targets(
    script: impl Fn(&str, usize) -> (u16, Duration) + Send + Sync + 'static,
) -> Receiver {
    Receiver::answering(move |r| {
        let (status, delay) = script(r.path.trim_start_matches('/'), r.path_index);
        Reply::status(status).delay(delay)
    })
    .await
}

fn hits(targets: &Receiver) -> Vec<Hit> {
    let hits = targets.requests().into_iter().map(|r| Hit {
        target: r.path.trim_start_matches('/').to_owned(),
        event_id: r.event_id().parse().unwrap_or_default(),
        at: DateTime::<Utc>::from(r.wall),
    });
    hits.collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// 20 healthy subscriptions and one whose endpoint hangs 15 s per request, every event going to
/// all 21. With the per-subscription cap (8) the hanging one holds 8 of the 64 slots and the
/// healthy deliveries all arrive while the hanging backlog has barely started to drain (it
/// needs ⌈events / 8⌉ × 15 s). Without the cap the hanging endpoint would soon hold every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_slow_the_healthy_ones() {
    const HEALTHY: usize = 20;
    const EVENTS: usize = 100;
    const HANG: Duration = Duration::from_secs(15);
    let targets = targets(|target, _| {
        let delay = if target == "hang" {
            HANG
        } else {
            Duration::ZERO
        };
        (200, delay)
    })
    .await;
    let world = World::new().await;
    for i in 0..HEALTHY {
        world.subscribe(&targets.url(&format!("/ok{i}")), &[]).await;
    }
    world.subscribe(&targets.url("/hang"), &[]).await;
    let config = hook0_worker::WorkerConfig {
        concurrency: 64,
        timeout: Duration::from_secs(20),
        lease: Duration::from_secs(30),
        max_in_flight_per_subscription: 8,
        shutdown_grace: Duration::from_millis(100),
        ..test_config()
    };
    let (shutdown, worker) = world.spawn_worker(config);

    let started = Instant::now();
    let mut ingested_at = HashMap::new();
    for _ in 0..EVENTS {
        let id = world.ingest("{}").await;
        ingested_at.insert(id, Utc::now());
    }
    let expected = EVENTS * HEALTHY;
    let all_healthy = "every healthy delivery before the first hanging request ended";
    let healthy = wait_until(all_healthy, HANG, || async {
        let healthy: Vec<Hit> = hits(&targets)
            .into_iter()
            .filter(|h| h.target != "hang")
            .collect();
        (healthy.len() >= expected).then_some(healthy)
    })
    .await;
    let all_healthy_in = started.elapsed();
    let hanging_started = hits(&targets).len() - healthy.len();
    stop(shutdown, worker).await;

    assert_eq!(
        healthy.len(),
        expected,
        "each healthy delivery exactly once"
    );
    assert!(
        all_healthy_in < HANG,
        "the hanging backlog ({EVENTS} × 15 s / 8) drains long after"
    );
    assert!(
        targets.max_in_flight("/hang") <= 8,
        "the cap held: {} in flight at the hanging endpoint",
        targets.max_in_flight("/hang")
    );
    assert!(
        hanging_started <= 8,
        "no hanging request ended, so at most 8 were sent"
    );
    let mut latencies: Vec<Duration> = healthy
        .iter()
        .map(|h| {
            (h.at - ingested_at[&h.event_id])
                .to_std()
                .unwrap_or_default()
        })
        .collect();
    latencies.sort();
    eprintln!(
        "noisy neighbour: {expected} healthy deliveries in {all_healthy_in:?}; ingest→delivery p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
    );
}

/// An endpoint that keeps up (quick successes) is given up to
/// `max_in_flight_per_fast_subscription` requests at once; one answering slowly keeps the
/// ordinary cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_keeps_up_gets_the_higher_cap_and_a_slow_one_does_not() {
    const EVENTS: usize = 200;
    let targets = targets(|target, _| {
        let delay = if target == "slow" {
            Duration::from_millis(400)
        } else {
            Duration::from_millis(20)
        };
        (200, delay)
    })
    .await;
    let world = World::new().await;
    world.subscribe(&targets.url("/quick"), &[]).await;
    world.subscribe(&targets.url("/slow"), &[]).await;
    let config = hook0_worker::WorkerConfig {
        concurrency: 32,
        max_in_flight_per_subscription: 2,
        max_in_flight_per_fast_subscription: Some(12),
        shutdown_grace: Duration::from_millis(100),
        ..test_config()
    };
    let (shutdown, worker) = world.spawn_worker(config);
    for _ in 0..EVENTS {
        world.ingest("{}").await;
    }
    let quick = "every delivery to the quick endpoint";
    wait_until(quick, Duration::from_secs(30), || async {
        let arrived = hits(&targets)
            .iter()
            .filter(|h| h.target == "quick")
            .count();
        (arrived >= EVENTS).then_some(())
    })
    .await;
    stop(shutdown, worker).await;
    let (quick, slow) = (
        targets.max_in_flight("/quick"),
        targets.max_in_flight("/slow"),
    );
    assert!(
        (3..=12).contains(&quick),
        "the quick endpoint went past the ordinary cap, within the higher one: {quick}"
    );
    assert!(slow <= 2, "the slow endpoint kept the ordinary cap: {slow}");
}

/// A circuit as seen at one moment: state, since, and (when open) the end of the cool-down.
type Snapshot = (CircuitState, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Circuit snapshots taken by polling the store, each change once, until `until` is satisfied.
async fn watch_circuit(
    world: &World,
    subscription_id: Uuid,
    until: impl Fn(&[Snapshot]) -> bool,
) -> Vec<Snapshot> {
    let mut seen: Vec<Snapshot> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let protection = world
            .store
            .subscription_protection(&[subscription_id])
            .await
            .unwrap();
        let c = &protection[&subscription_id].circuit;
        let snapshot = (c.state, c.since, c.open_until);
        if seen.last() != Some(&snapshot) {
            seen.push(snapshot);
        }
        if until(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "circuit went through {seen:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A target that fails its first 4 requests, then recovers. Threshold 3: three failures open
/// the circuit; the first probe fails (re-opened for twice as long), the second succeeds and
/// closes it. Probes are answered slowly so the half-open state can be seen.
#[tokio::test]
async fn the_circuit_opens_probes_and_closes_without_spending_retries() {
    let targets = targets(|_, n| {
        let status = if n < 4 { 500 } else { 200 };
        let delay = if n >= 3 {
            Duration::from_millis(150)
        } else {
            Duration::ZERO
        };
        (status, delay)
    })
    .await;
    let world = World::new().await;
    let sub = world.subscribe(&targets.url("/flaky"), &[]).await;
    let config = hook0_worker::WorkerConfig {
        retry: RetryPolicy {
            max_retries: 10,
            jitter_ratio: 0.0,
            jitter_max_spread: Duration::ZERO,
            schedule: vec![Duration::from_millis(20)],
        },
        circuit: CircuitPolicy {
            failure_threshold: 3,
            cooldown: Duration::from_millis(400),
            max_cooldown: Duration::from_secs(5),
        },
        ..test_config()
    };
    let (shutdown, worker) = world.spawn_worker(config);
    let first_event = world.ingest(r#"{"n":1}"#).await;

    // Once open, a second event arrives: it must wait, not fail.
    let opened = watch_circuit(&world, sub.id, |seen| {
        seen.iter().any(|s| s.0 == CircuitState::Open)
    })
    .await;
    let second_event = world.ingest(r#"{"n":2}"#).await;
    let mut seen = watch_circuit(&world, sub.id, |seen| {
        seen.iter()
            .filter(|s| s.0 == CircuitState::HalfOpen)
            .count()
            == 2
            && seen.last().unwrap().0 == CircuitState::Closed
    })
    .await;
    let attempts = world.wait_finished(6).await;
    stop(shutdown, worker).await;
    seen.splice(0..0, opened);
    seen.dedup();

    let states: Vec<CircuitState> = seen.iter().map(|s| s.0).collect();
    let mut transitions = states.clone();
    transitions.dedup();
    use CircuitState::*;
    assert_eq!(
        transitions
            .iter()
            .skip_while(|s| **s == Closed)
            .copied()
            .collect::<Vec<_>>(),
        [Open, HalfOpen, Open, HalfOpen, Closed],
        "snapshots: {seen:?}"
    );

    // No request reached the target while the circuit was open.
    let hits = hits(&targets);
    for (state, since, until) in &seen {
        if *state == Open {
            let (since, until) = (since.unwrap(), until.unwrap());
            assert!(
                hits.iter().all(|h| h.at <= since || h.at >= until),
                "a request arrived while open ({since} → {until}): {hits:?}"
            );
        }
    }
    // The second cool-down was longer than the first.
    let cooldowns: Vec<i64> = seen
        .iter()
        .filter(|s| s.0 == Open)
        .map(|s| (s.2.unwrap() - s.1.unwrap()).num_milliseconds())
        .collect();
    assert_eq!(cooldowns, [400, 800]);

    // No retry was spent while open: each attempt of an event was one real request to the
    // target, its retry counts run 0, 1, … without a gap, and only its last one succeeded. The
    // second event waited (it may have been a probe) but never failed without a request.
    assert_eq!(hits.len(), 6, "4 failures + 2 successes");
    assert_eq!(attempts.len(), 6);
    for event in [first_event, second_event] {
        let mut mine: Vec<_> = attempts.iter().filter(|a| a.event_id == event).collect();
        mine.sort_by_key(|a| a.retry_count);
        let requests = hits.iter().filter(|h| h.event_id == event).count();
        assert_eq!(mine.len(), requests, "one attempt per request");
        let counts: Vec<i32> = mine.iter().map(|a| a.retry_count).collect();
        assert_eq!(counts, (0..requests as i32).collect::<Vec<_>>());
        assert!(mine.last().unwrap().succeeded_at.is_some());
    }
    for attempt in attempts.iter().filter(|a| a.failed_at.is_some()) {
        assert_eq!(world.response(attempt).await.http_code, Some(500));
    }
}
