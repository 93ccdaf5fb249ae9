//! The loopback receiver: records when each (event, subscription) delivery arrives, counts
//! duplicates, and can be slow or fail on purpose. `/hang/{n}` is a hanging endpoint (the noisy
//! neighbour): it answers after the hang delay and records nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use uuid::Uuid;

#[derive(Default)]
struct Seen {
    first_arrival: HashMap<(Uuid, usize), Instant>,
    duplicates: usize,
    failures_answered: usize,
    last: Option<Instant>,
}

#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct Behaviour {
    delay: Duration,
    failure_rate: f64,
    seen: Arc<Mutex<Seen>>,
}

async fn hook(
    State(b): State<Behaviour>,
    Path(subscription): Path<usize>,
    headers: HeaderMap,
) -> StatusCode {
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    let Some(event_id) = headers
        .get("x-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    else {
        return StatusCode::BAD_REQUEST;
    };
    let mut seen = b.seen.lock().unwrap();
    if b.failure_rate > 0.0 && rand::random::<f64>() < b.failure_rate {
        seen.failures_answered += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let now = Instant::now();
    seen.last = Some(now);
    if seen
        .first_arrival
        .insert((event_id, subscription), now)
        .is_some()
    {
        seen.duplicates += 1;
    }
    StatusCode::OK
}

impl Receiver {
    pub async fn start(delay_ms: u64, failure_rate: f64, hang: Duration) -> anyhow::Result<Self> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let behaviour = Behaviour {
            delay: Duration::from_millis(delay_ms),
            failure_rate,
            seen: seen.clone(),
        };
        let app = axum::Router::new()
            .route("/hook/{subscription}", post(hook))
            .route(
                "/hang/{subscription}",
                post(move || async move {
                    tokio::time::sleep(hang).await;
                    StatusCode::OK
                }),
            )
            .with_state(behaviour);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, seen })
    }

    pub fn url(&self, subscription: usize) -> String {
        format!("http://{}/hook/{subscription}", self.addr)
    }

    pub fn hanging_url(&self, subscription: usize) -> String {
        format!("http://{}/hang/{subscription}", self.addr)
    }

    /// Forgets every delivery seen so far (after a warm-up).
    pub fn reset(&self) {
        *self.seen.lock().unwrap() = Seen::default();
    }

    pub fn unique_deliveries(&self) -> usize {
        self.seen.lock().unwrap().first_arrival.len()
    }

    pub fn duplicates(&self) -> usize {
        self.seen.lock().unwrap().duplicates
    }

    /// Each (event, subscription)'s first successful arrival.
    pub fn arrivals(&self) -> HashMap<(Uuid, usize), Instant> {
        self.seen.lock().unwrap().first_arrival.clone()
    }

    pub fn last_arrival(&self) -> Option<Instant> {
        self.seen.lock().unwrap().last
    }

    /// Ingest-start to first-arrival latency of every delivery of the events in `started`.
    pub fn delivery_latencies(&self, started: &HashMap<Uuid, Instant>) -> Vec<Duration> {
        let seen = self.seen.lock().unwrap();
        seen.first_arrival
            .iter()
            .filter_map(|((event, _), arrived)| {
                started
                    .get(event)
                    .map(|t0| arrived.saturating_duration_since(*t0))
            })
            .collect()
    }
}
