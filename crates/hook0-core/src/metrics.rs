//! The process's Prometheus metrics: one registry, reachable from the API and the worker through
//! [`metrics()`], rendered by the API's `GET /metrics`.
//!
//! Why `prometheus-client` (the Prometheus project's own Rust client) rather than the `metrics`
//! facade with `metrics-exporter-prometheus`: every metric is a typed field here, so a name or a
//! label set cannot be misspelled at one call site, there is no global recorder to install before
//! anything records, and its dependency tree is a handful of small crates (the exporter pulls in
//! `metrics-util`, `quanta`, a sketch library and more). It renders the OpenMetrics text format,
//! which Prometheus scrapes natively.
//!
//! One global registry (not a handle threaded through every constructor) because metrics are a
//! property of the process: the API and the worker of `hook0 serve` share it, and code that
//! records a counter does not need to be handed anything. Recording is a few atomic operations;
//! nothing here does I/O.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use uuid::Uuid;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request and ingest latencies: 1 ms to 10 s.
const FAST_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Event received → delivered: milliseconds on a first attempt, hours after retries.
const DELIVERY_BUCKETS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 10800.0, 36000.0,
];

/// How a delivery attempt ended, as the `outcome` label of `hook0_delivery_attempts_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AttemptOutcome {
    success,
    /// A redirect: never followed, so it counts as a failure.
    http_3xx,
    http_4xx,
    http_5xx,
    timeout,
    connection,
    dns,
    invalid_target,
    invalid_header,
    unknown,
}

/// The state label of `hook0_queue_attempts`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum QueueState {
    due,
    delayed,
    in_flight,
}

/// The state label of `hook0_circuits` (closed circuits are not counted: that is the rest).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CircuitState {
    open,
    half_open,
}

/// The state label of `hook0_db_pool_connections`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PoolState {
    idle,
    in_use,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApplicationLabels {
    application_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: AttemptOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    state: QueueState,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    state: CircuitState,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: PoolState,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// A snapshot of the delivery queue, set at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueGauges {
    pub due: i64,
    pub delayed: i64,
    pub in_flight: i64,
    /// How long the oldest due attempt has been waiting (0 when none is due).
    pub oldest_due_age: Duration,
    /// Subscriptions whose circuit breaker is open, and half-open (probing).
    pub circuits_open: i64,
    pub circuits_half_open: i64,
}

/// A snapshot of the database connection pool, set at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolGauges {
    pub idle: i64,
    pub in_use: i64,
    pub max: i64,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    events_ingested: Family<ApplicationLabels, Counter>,
    ingest_duration: Histogram,
    delivery_attempts: Family<OutcomeLabels, Counter>,
    delivery_latency: Histogram,
    retries_scheduled: Counter,
    dead_letters: Counter,
    queue_attempts: Family<QueueLabels, Gauge>,
    queue_oldest_due_age: Gauge<f64, AtomicU64>,
    circuits: Family<CircuitLabels, Gauge>,
    db_pool_connections: Family<PoolLabels, Gauge>,
    db_pool_max_connections: Gauge,
    http_requests: Family<RequestLabels, Counter>,
    http_request_duration: HistogramFamily<RouteLabels>,
    /// Unix milliseconds of the delivery worker's last loop turn; 0 when no worker runs here.
    worker_heartbeat_ms: AtomicI64,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

fn fast_histogram() -> Histogram {
    Histogram::new(FAST_BUCKETS)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Metrics {
    fn new() -> Self {
        let m = Self {
            registry: Registry::default(),
            events_ingested: Family::default(),
            ingest_duration: fast_histogram(),
            delivery_attempts: Family::default(),
            delivery_latency: Histogram::new(DELIVERY_BUCKETS),
            retries_scheduled: Counter::default(),
            dead_letters: Counter::default(),
            queue_attempts: Family::default(),
            queue_oldest_due_age: Gauge::default(),
            circuits: Family::default(),
            db_pool_connections: Family::default(),
            db_pool_max_connections: Gauge::default(),
            http_requests: Family::default(),
            http_request_duration: Family::new_with_constructor(fast_histogram),
            worker_heartbeat_ms: AtomicI64::new(0),
        };
        m.register()
    }

    /// Counters are registered without `_total`: the encoder appends it.
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "hook0_events_ingested",
            "Events stored by POST /event, by application",
            self.events_ingested.clone(),
        );
        r.register(
            "hook0_ingest_duration_seconds",
            "Time to validate and durably store an ingested event with its request attempts",
            self.ingest_duration.clone(),
        );
        r.register(
            "hook0_delivery_attempts",
            "Delivery attempts finished by the worker, by outcome",
            self.delivery_attempts.clone(),
        );
        r.register(
            "hook0_delivery_latency_seconds",
            "From an event's reception to its successful delivery (retries included)",
            self.delivery_latency.clone(),
        );
        r.register(
            "hook0_retries_scheduled",
            "Failed attempts for which a retry was scheduled",
            self.retries_scheduled.clone(),
        );
        r.register(
            "hook0_dead_letters",
            "Failed attempts given up: retries exhausted, or a failure no retry can fix",
            self.dead_letters.clone(),
        );
        r.register(
            "hook0_queue_attempts",
            "Pending request attempts: due now, delayed (retry not yet due), in flight (leased)",
            self.queue_attempts.clone(),
        );
        r.register(
            "hook0_circuits",
            "Subscriptions whose circuit breaker is open (deliveries held) or half-open (probing)",
            self.circuits.clone(),
        );
        r.register(
            "hook0_queue_oldest_due_age_seconds",
            "How long the oldest due attempt has waited to be claimed (worker lag)",
            self.queue_oldest_due_age.clone(),
        );
        r.register(
            "hook0_db_pool_connections",
            "Database pool connections by state",
            self.db_pool_connections.clone(),
        );
        r.register(
            "hook0_db_pool_max_connections",
            "Database pool size limit",
            self.db_pool_max_connections.clone(),
        );
        r.register(
            "hook0_http_requests",
            "HTTP requests served, by method, route template and status",
            self.http_requests.clone(),
        );
        r.register(
            "hook0_http_request_duration_seconds",
            "HTTP request latency, by method and route template",
            self.http_request_duration.clone(),
        );
        self
    }

    /// An event was stored (and acknowledged) after `duration`.
    pub fn event_ingested(&self, application_id: Uuid, duration: Duration) {
        self.events_ingested
            .get_or_create(&ApplicationLabels {
                application_id: application_id.to_string(),
            })
            .inc();
        self.ingest_duration.observe(duration.as_secs_f64());
    }

    /// A delivery attempt finished.
    pub fn delivery_attempt(&self, outcome: AttemptOutcome) {
        self.delivery_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// An event reached its target `latency` after it was received.
    pub fn delivered(&self, latency: Duration) {
        self.delivery_latency.observe(latency.as_secs_f64());
    }

    pub fn retry_scheduled(&self) {
        self.retries_scheduled.inc();
    }

    pub fn dead_letter(&self) {
        self.dead_letters.inc();
    }

    /// An HTTP request was answered. `route` is the matched path template (never the raw path,
    /// which would make one series per id).
    pub fn http_request(&self, method: &str, route: &str, status: u16, duration: Duration) {
        self.http_requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_request_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// The delivery worker of this process is alive (called on every turn of its loop).
    pub fn worker_heartbeat(&self) {
        self.worker_heartbeat_ms
            .store(unix_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The delivery worker of this process stopped claiming (shutdown).
    pub fn worker_stopped(&self) {
        self.worker_heartbeat_ms
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Time since the worker of this process last turned its loop; `None` when no worker runs
    /// in this process.
    pub fn worker_heartbeat_age(&self) -> Option<Duration> {
        let at = self
            .worker_heartbeat_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        (at != 0).then(|| Duration::from_millis(unix_ms().saturating_sub(at).max(0) as u64))
    }

    pub fn set_queue(&self, q: QueueGauges) {
        let set = |state, value| {
            self.queue_attempts
                .get_or_create(&QueueLabels { state })
                .set(value)
        };
        set(QueueState::due, q.due);
        set(QueueState::delayed, q.delayed);
        set(QueueState::in_flight, q.in_flight);
        self.queue_oldest_due_age
            .set(q.oldest_due_age.as_secs_f64());
        for (state, value) in [
            (CircuitState::open, q.circuits_open),
            (CircuitState::half_open, q.circuits_half_open),
        ] {
            self.circuits
                .get_or_create(&CircuitLabels { state })
                .set(value);
        }
    }

    pub fn set_pool(&self, p: PoolGauges) {
        let set = |state, value| {
            self.db_pool_connections
                .get_or_create(&PoolLabels { state })
                .set(value)
        };
        set(PoolState::idle, p.idle);
        set(PoolState::in_use, p.in_use);
        self.db_pool_max_connections.set(p.max);
    }

    /// The OpenMetrics text exposition of every metric (serve it with [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_names() {
        let m = Metrics::new();
        m.event_ingested(Uuid::nil(), Duration::from_millis(3));
        m.delivery_attempt(AttemptOutcome::http_5xx);
        m.http_request("GET", "/api/v1/events", 200, Duration::from_millis(1));
        m.set_queue(QueueGauges {
            due: 2,
            circuits_open: 3,
            ..QueueGauges::default()
        });
        let text = m.render();
        assert!(text.contains("hook0_circuits{state=\"open\"} 3"), "{text}");
        assert!(
            text.contains("hook0_circuits{state=\"half_open\"} 0"),
            "{text}"
        );
        assert!(text.contains(
            "hook0_events_ingested_total{application_id=\"00000000-0000-0000-0000-000000000000\"} 1"
        ));
        assert!(text.contains("hook0_delivery_attempts_total{outcome=\"http_5xx\"} 1"));
        assert!(text.contains("hook0_ingest_duration_seconds_count 1"));
        assert!(text.contains(
            "hook0_http_requests_total{method=\"GET\",route=\"/api/v1/events\",status=\"200\"} 1"
        ));
        assert!(text.contains("hook0_queue_attempts{state=\"due\"} 2"));
        assert!(text.contains("hook0_retries_scheduled_total 0"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn heartbeat_is_absent_until_a_worker_beats() {
        let m = Metrics::new();
        assert_eq!(m.worker_heartbeat_age(), None);
        m.worker_heartbeat();
        assert!(m.worker_heartbeat_age().unwrap() < Duration::from_secs(5));
    }
}
