//! `hook0-bench`: measures a Hook0 server end to end, the way a user sees it.
//!
//! It starts the `hook0` binary built next to it (or targets a running server with `--api`), a
//! loopback receiver and a load generator; creates an organization, an application, an event type
//! and `--fanout` subscriptions; sends `--events` events (closed loop at `--concurrency`, or open
//! loop at `--rate` events/s); waits for every delivery; and prints ingest and delivery figures,
//! duplicates, missing deliveries, and the server's peak RSS and CPU time.
//!
//! Noisy neighbour: `--hanging-subscriptions N` adds N subscriptions, matching every event too,
//! whose endpoint answers only after `--hang-ms`. Their deliveries are not counted: the figures
//! are those of the healthy subscriptions, to compare with a run without them.

mod order;
mod pgstat;
mod receiver;
mod report;
mod schema;
mod server;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "End-to-end load test of a Hook0 server: ingest throughput, delivery throughput and latency."
)]
pub struct Args {
    /// Events to send.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Concurrent ingest requests (closed loop).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Subscriptions each event matches (deliveries per event).
    #[arg(long, default_value_t = 1)]
    pub fanout: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 256)]
    pub payload_size: usize,
    /// Milliseconds the receiver waits before answering.
    #[arg(long, default_value_t = 0)]
    pub receiver_delay_ms: u64,
    /// Fraction of deliveries the receiver answers with 500 (each is retried).
    #[arg(long, default_value_t = 0.0)]
    pub failure_rate: f64,
    /// Extra subscriptions (matching every event) whose endpoint hangs `--hang-ms` per request:
    /// the noisy neighbours. Only the `--fanout` healthy deliveries are measured.
    #[arg(long, default_value_t = 0)]
    pub hanging_subscriptions: usize,
    /// How long a hanging endpoint waits before answering 200.
    #[arg(long, default_value_t = 15_000)]
    pub hang_ms: u64,
    /// Backend of the spawned server: `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    pub backend: String,
    /// PostgreSQL server used with `--backend postgres` (a fresh database is created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Target a running server instead (`http://host:port/api/v1`); needs `--master-key`.
    #[arg(long)]
    pub api: Option<String>,
    /// Master key of the server given with `--api`.
    #[arg(long)]
    pub master_key: Option<Uuid>,
    /// Open loop: offer this many events per second instead of a closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Fail (exit 1) when any delivery is missing or duplicated: for CI.
    #[arg(long, default_value_t = false)]
    pub strict: bool,
    /// Queue every event before any worker runs (the server starts as `hook0 api`, a
    /// `hook0 worker` once all events are in), and time delivery from the worker's start.
    #[arg(long, default_value_t = false)]
    pub backlog: bool,
    /// The `hook0` binary to start [default: the one built beside this benchmark].
    #[arg(long)]
    pub server_bin: Option<std::path::PathBuf>,
    /// Before measuring, send this many events, wait for their deliveries, then leave the server
    /// idle for a second: measures a running server (statements prepared, connections open)
    /// rather than a freshly started one. Not with `--backlog`.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Give the event type a realistic JSON Schema (an invoice: 8 fields, formats, a nested
    /// array) and send payloads that match it: every ingest is validated.
    #[arg(long, default_value_t = false)]
    pub schema: bool,
    /// Run the scenario this many times, each on a fresh server and database, and print each
    /// run's worst delivery time: a rare stall (one run in ten) shows as an outlier line.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Ordered delivery: the subscriptions order by the label `key`, and each event carries one
    /// of this many keys (0: unordered). Compare with a run without it. Counts the deliveries
    /// that arrived before one of an event of their key acknowledged before theirs was sent
    /// ("out of order"; `--strict` fails on any)
    #[arg(long, default_value_t = 0)]
    pub ordered_keys: usize,
    /// Extra environment for the spawned server, `NAME=value` (repeatable).
    #[arg(long = "server-env")]
    pub server_env: Vec<String>,
}

/// What the load generator remembers of each event it sent.
#[derive(Default)]
pub struct Sent {
    pub started: HashMap<Uuid, Instant>,
    /// When each acknowledged event was sent and acknowledged.
    pub ingested: HashMap<Uuid, order::Ingested>,
    pub ingest_latencies: Vec<Duration>,
    pub errors: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.repeat <= 1 {
        return run_once(&args).await.map(|_| ());
    }
    let mut worst = Vec::new();
    for run in 1..=args.repeat {
        let report = run_once(&args).await?;
        let max = report.line["delivery_latency_ms"]["max"]
            .as_f64()
            .unwrap_or(f64::NAN);
        println!(
            "run {run}/{}: worst delivery {max:.1} ms, p50 {:.1} ms, {} missing, {} duplicates",
            args.repeat,
            report.line["delivery_latency_ms"]["p50"]
                .as_f64()
                .unwrap_or(f64::NAN),
            report.missing,
            report.duplicates
        );
        worst.push(max);
    }
    worst.sort_by(f64::total_cmp);
    println!(
        "{} runs: worst delivery per run: median {:.1} ms, highest {:.1} ms",
        worst.len(),
        worst[worst.len() / 2],
        worst[worst.len() - 1]
    );
    Ok(())
}

/// One run of the scenario on its own server (and fresh database); prints its report.
async fn run_once(args: &Args) -> anyhow::Result<report::Report> {
    let args = args.clone();
    let receiver = receiver::Receiver::start(
        args.receiver_delay_ms,
        args.failure_rate,
        std::time::Duration::from_millis(args.hang_ms),
    )
    .await?;
    let master_key = args.master_key.unwrap_or_else(Uuid::new_v4);
    let mut server = match &args.api {
        Some(api) => server::Server::external(api.clone()),
        None => server::Server::spawn(&args, master_key).await?,
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let app_id = setup(&server.api, master_key, &receiver, &args).await?;

    let payload = if args.schema {
        schema::print_validation_cost(args.payload_size);
        schema::payload(args.payload_size)
    } else {
        json!({ "data": "x".repeat(args.payload_size.saturating_sub(12)) }).to_string()
    };
    if args.warmup > 0 && !args.backlog {
        let warmup = Args {
            events: args.warmup,
            rate: None,
            ..args.clone()
        };
        let sent = Arc::new(Mutex::new(Sent::default()));
        eprintln!("warming up with {} events…", args.warmup);
        send_all(
            &warmup,
            &http,
            &server.api,
            master_key,
            app_id,
            &payload,
            sent,
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
        while receiver.unique_deliveries() < args.warmup * args.fanout && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        receiver.reset();
    }
    let sent = Arc::new(Mutex::new(Sent::default()));
    eprintln!(
        "sending {} events ({} deliveries expected)…",
        args.events,
        args.events * args.fanout
    );
    let database_url = server.database_url();
    let pg_before = match &database_url {
        Some(url) => Some(pgstat::sample(url).await?),
        None => None,
    };
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    send_all(
        &args,
        &http,
        &server.api,
        master_key,
        app_id,
        &payload,
        sent.clone(),
    )
    .await;
    let ingest_elapsed = started.elapsed();
    // Backlog: every attempt is queued; delivery is timed from the worker's start.
    let delivery_start = if args.backlog {
        eprintln!("all events queued; starting the worker…");
        server.start_worker()?;
        Instant::now()
    } else {
        started
    };

    let expected = (args.events - sent.lock().await.errors) * args.fanout;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    while receiver.unique_deliveries() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivery_elapsed = receiver
        .last_arrival()
        .map_or(Duration::ZERO, |t| t.duration_since(delivery_start));
    let server_cpu = server.cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let postgres = match (&database_url, pg_before) {
        (Some(url), Some(before)) => {
            Some(pgstat::sample(url).await?.per_event(&before, args.events))
        }
        _ => None,
    };
    let sent = sent.lock().await;
    let report = report::Report::build(
        &args,
        &sent,
        &receiver,
        expected,
        ingest_elapsed,
        delivery_elapsed,
        server.peak_rss_mib(),
        server_cpu,
        postgres,
    );
    report.print();
    server.stop().await;
    let out_of_order = report.out_of_order.unwrap_or(0);
    if args.strict
        && (report.missing > 0 || report.duplicates > 0 || sent.errors > 0 || out_of_order > 0)
    {
        anyhow::bail!(
            "{} missing, {} duplicates, {} out of order, {} ingest errors",
            report.missing,
            report.duplicates,
            out_of_order,
            sent.errors
        );
    }
    Ok(report)
}

/// The organization, application, event type and subscriptions of a run, made through the
/// SDK (the load itself is sent with a bare HTTP client: the SDK's retries would hide errors).
async fn setup(
    api: &str,
    key: Uuid,
    receiver: &receiver::Receiver,
    args: &Args,
) -> anyhow::Result<Uuid> {
    let client = hook0_sdk::Client::new(api, &key.to_string())?;
    let org = client.create_organization("bench").await?;
    let app = client
        .create_application(org.organization_id, "bench")
        .await?
        .application_id;
    client.create_event_type(app, "bench.load.sent").await?;
    if args.schema {
        client
            .set_event_type_schema(app, "bench.load.sent", Some(&schema::schema()))
            .await?;
    }
    let healthy = (0..args.fanout).map(|i| receiver.url(i));
    let hanging = (0..args.hanging_subscriptions).map(|i| receiver.hanging_url(i));
    for url in healthy.chain(hanging) {
        client
            .create_subscription(&hook0_sdk::SubscriptionSpec {
                application_id: app,
                is_enabled: true,
                event_types: vec!["bench.load.sent".into()],
                description: None,
                labels: [("bench".to_owned(), "yes".to_owned())].into(),
                metadata: Default::default(),
                target: hook0_sdk::Target::post(&url),
                ordering_label: (args.ordered_keys > 0).then(|| "key".to_owned()),
                ordering_on_dead_letter: None,
            })
            .await?;
    }
    Ok(app)
}

/// Everything one ingest request needs; cheap to clone into each sending task.
#[derive(Clone)]
struct Load {
    http: reqwest::Client,
    url: Arc<str>,
    key: Uuid,
    app_id: Uuid,
    payload: Arc<str>,
    /// Keys of ordered delivery (0: none).
    ordered_keys: usize,
    sent: Arc<Mutex<Sent>>,
}

impl Load {
    async fn send_one(self, id: Uuid) {
        let mut labels = json!({ "bench": "yes" });
        if self.ordered_keys > 0 {
            let key = order::key_of(id, self.ordered_keys).to_string();
            labels["key"] = json!(key);
        }
        let request = self
            .http
            .post(&*self.url)
            .bearer_auth(self.key)
            .json(&json!({
                "application_id": self.app_id, "event_id": id, "event_type": "bench.load.sent",
                "payload": &*self.payload, "payload_content_type": "application/json",
                "labels": labels, "occurred_at": chrono::Utc::now(),
            }));
        let t0 = Instant::now();
        self.sent.lock().await.started.insert(id, t0);
        let ok = matches!(request.send().await, Ok(r) if r.status() == 201);
        let acked = Instant::now();
        let mut sent = self.sent.lock().await;
        sent.ingest_latencies.push(acked - t0);
        if ok {
            sent.ingested
                .insert(id, order::Ingested { sent: t0, acked });
        } else {
            sent.errors += 1;
            sent.started.remove(&id);
        }
    }
}

async fn send_all(
    args: &Args,
    http: &reqwest::Client,
    api: &str,
    key: Uuid,
    app_id: Uuid,
    payload: &str,
    sent: Arc<Mutex<Sent>>,
) {
    let load = Load {
        http: http.clone(),
        url: format!("{api}/event").into(),
        key,
        app_id,
        payload: payload.into(),
        ordered_keys: args.ordered_keys,
        sent,
    };
    match args.rate {
        None => {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..args.concurrency {
                let (next, total, load) = (next.clone(), args.events, load.clone());
                workers.spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                        load.clone().send_one(Uuid::now_v7()).await;
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / rate);
            let start = Instant::now();
            let mut inflight = tokio::task::JoinSet::new();
            for i in 0..args.events {
                tokio::time::sleep_until((start + interval.mul_f64(i as f64)).into()).await;
                inflight.spawn(load.clone().send_one(Uuid::now_v7()));
            }
            while inflight.join_next().await.is_some() {}
        }
    }
}
