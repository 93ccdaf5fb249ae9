//! Hook0's delivery worker: claims due request attempts from the store in batches (under a
//! lease), sends each as a signed HTTP request with SSRF guard and timeouts, and writes the
//! outcomes back in batches, scheduling retries.
//!
//! Delivery is protective: the claim caps the attempts of one subscription in flight and takes
//! subscriptions round-robin (a hanging target cannot take every slot), holds the attempts of a
//! subscription whose circuit is open, and serves first attempts before retries within the
//! slots reserved to each class; recording an outcome moves the circuit, marks dead letters and
//! auto-disables a subscription failing for too long, whose operational event the notifier
//! sends to the operator (`operational`).
//!
//! No database transaction is ever open during an HTTP call: the claim commits before sending
//! and the outcome is written after. A worker that dies leaves leases that simply run out, so
//! delivery is at-least-once.

pub mod config;
pub mod deliver;
mod heartbeat;
pub mod http_client;
mod in_flight;
pub mod metrics;
mod operational;
mod pace;
mod recorder;
pub mod ssrf_resolver;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome};
use hook0_store::{Claimed, NextDue, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::{Heartbeat, SharedRelay, WorkerConfig};
pub use deliver::deliver;

use in_flight::InFlight;
use pace::Pace;

/// Pause after a failed claim before trying again.
const STORE_ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest idle sleep, so an attempt due "now" that cannot be claimed does not spin the loop.
const MIN_IDLE: Duration = Duration::from_millis(10);
/// Longest sleep while due attempts are all blocked (their subscriptions at the in-flight cap,
/// or their priority class out of slots), should no outcome wake the loop earlier.
const BLOCKED_IDLE: Duration = Duration::from_millis(50);

/// Why the worker could not start. Once running it only stops on the shutdown token: store
/// errors are logged and retried, never returned.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("invalid worker configuration: {0}")]
    Config(String),
    #[error("cannot build the delivery HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Runs the dispatch loop until `shutdown` is cancelled, then stops claiming, lets in-flight
/// deliveries finish for up to `shutdown_grace`, records their outcomes and releases the
/// attempts it had to cut short.
pub async fn run(
    store: Arc<dyn Store>,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    config.validate().map_err(WorkerError::Config)?;
    let client = http_client::build_client(&config).map_err(WorkerError::HttpClient)?;
    let config = Arc::new(config);
    tracing::info!(
        worker = %config.name,
        concurrency = config.concurrency,
        ip_check = !config.disable_target_ip_check,
        "delivery worker started"
    );

    let (outcomes, queued) = mpsc::channel(config.concurrency + recorder::MAX_BATCH);
    let recording = tokio::spawn(recorder::record(
        store.clone(),
        config.outcome_policy(),
        queued,
    ));
    let notifier = config.operational_webhook_url.clone().map(|url| {
        tokio::spawn(operational::notify(
            store.clone(),
            url,
            config.poll_interval,
            shutdown.clone(),
        ))
    });
    let heartbeat = config
        .heartbeat
        .clone()
        .map(|beat| tokio::spawn(heartbeat::beat(beat, config.name.clone(), shutdown.clone())));
    let dispatcher = Dispatcher {
        store: store.clone(),
        client,
        config: config.clone(),
        outcomes,
        in_flight: InFlight::default(),
        pace: Arc::new(Pace::default()),
    };
    let in_flight = dispatcher.run(&shutdown).await;

    hook0_core::metrics::metrics().worker_stopped();
    tracing::info!(in_flight = in_flight.len(), "delivery worker stopping");
    let cut_short = in_flight.finish(config.shutdown_grace).await;
    if !cut_short.is_empty() {
        match store.release_attempts(&cut_short).await {
            Ok(()) => tracing::info!(released = cut_short.len(), "released unfinished attempts"),
            Err(error) => tracing::warn!(
                %error,
                attempts = cut_short.len(),
                "could not release unfinished attempts; they are due again when their lease ends"
            ),
        }
    }
    // Every sender is gone now, so the recorder ends once the queue is written.
    let abort = recording.abort_handle();
    if tokio::time::timeout(config.shutdown_grace, recording)
        .await
        .is_err()
    {
        abort.abort();
        tracing::warn!("some outcomes were not recorded; their attempts are delivered again when their lease ends");
    }
    if let Some(heartbeat) = heartbeat {
        let _ = heartbeat.await;
    }
    if let Some(notifier) = notifier {
        // It stops on the shutdown token; an event it had not sent yet is sent after a restart.
        let _ = notifier.await;
    }
    tracing::info!("delivery worker stopped");
    Ok(())
}

struct Dispatcher {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    config: Arc<WorkerConfig>,
    outcomes: mpsc::Sender<DeliveryOutcome>,
    in_flight: InFlight,
    pace: Arc<Pace>,
}

impl Dispatcher {
    /// Claims and starts deliveries until shutdown; returns the deliveries still running.
    async fn run(mut self, shutdown: &CancellationToken) -> InFlight {
        loop {
            hook0_core::metrics::metrics().worker_heartbeat();
            let free = self.free_slots();
            if free == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = self.in_flight.join_one() => {}
                }
            }
            if shutdown.is_cancelled() {
                return self.in_flight;
            }
            if free == 0 {
                continue;
            }
            let request = self.claim_request(free);
            match self.store.claim_attempts(&self.config.name, &request).await {
                Ok(Claimed { jobs, next_due }) if !jobs.is_empty() => {
                    tracing::trace!(claimed = jobs.len(), "claimed attempts");
                    // Fewer than asked: what was due is taken (or blocked by a cap, which
                    // `idle` tells). Claiming again at once would come back empty: a wasted
                    // transaction per event at light load. New work wakes the wait.
                    let drained = jobs.len() < request.limit as usize;
                    jobs.into_iter().for_each(|job| self.start(job, &request));
                    if drained {
                        self.idle(next_due, shutdown).await;
                    }
                }
                Ok(Claimed { next_due, .. }) => self.idle(next_due, shutdown).await,
                Err(error) => {
                    tracing::error!(%error, "claiming attempts failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(STORE_ERROR_BACKOFF) => {}
                    }
                }
            }
        }
    }

    /// Forgets the deliveries that finished; how many more may start.
    fn free_slots(&mut self) -> usize {
        self.in_flight.reap();
        self.config.concurrency.saturating_sub(self.in_flight.len())
    }

    /// What the next claim (or hand-off) may take: as many attempts as the `free` slots, at most
    /// a batch, within the per-subscription caps (higher for the endpoints keeping up), and per
    /// priority class what its running deliveries leave of the slots it may use (every slot but
    /// those reserved to the other class).
    fn claim_request(&self, free: usize) -> ClaimRequest {
        let config = &self.config;
        let limit = u32::try_from(free)
            .unwrap_or(u32::MAX)
            .min(config.batch_size);
        let for_high = config.concurrency.saturating_sub(config.lp_reserved());
        let for_low = config.concurrency.saturating_sub(config.hp_reserved());
        let room = |usable: usize, running: usize| {
            u32::try_from(usable.saturating_sub(running)).unwrap_or(u32::MAX)
        };
        ClaimRequest {
            limit,
            lease: config.lease,
            max_in_flight_per_subscription: config.max_in_flight_per_subscription,
            fast_subscriptions: pace::fast_subscriptions(
                &self.pace,
                config.max_in_flight_per_subscription,
                config.concurrency,
                self.in_flight.running(),
                std::time::Instant::now(),
            ),
            max_in_flight_per_fast_subscription: config.max_in_flight_per_fast_subscription(),
            hp_retry_cutoff: config.hp_retry_cutoff,
            max_high_priority: room(for_high, self.in_flight.high_priority()),
            max_low_priority: room(for_low, self.in_flight.low_priority()),
        }
    }

    /// Nothing more could be claimed: sleep until the next attempt is due, a wake-up arrives
    /// (new attempts, or recorded outcomes freeing slots), or the poll interval. The next due
    /// time is the one the claim learned, or read when it could not tell. Meanwhile the free
    /// slots are offered to this process's ingests (the hand-off): what they lease to this
    /// worker starts at once, and the wait goes on, since what was due before is as it was.
    async fn idle(&mut self, next_due: NextDue, shutdown: &CancellationToken) {
        let next_due_at = match next_due.known() {
            Some(at) => Ok(Some(at)),
            None => self.store.next_due_at().await,
        };
        let (wait, blocked) = match next_due_at {
            // Due already, yet not claimed: blocked by a cap until some delivery finishes.
            Ok(Some(at)) if at <= Utc::now() => (BLOCKED_IDLE, true),
            Ok(Some(at)) => ((at - Utc::now()).to_std().unwrap_or(Duration::ZERO), false),
            Ok(None) => (self.config.poll_interval, false),
            Err(error) => {
                tracing::warn!(%error, "reading the next due time failed");
                (self.config.poll_interval, true)
            }
        };
        let wait = wait.min(self.config.poll_interval).max(MIN_IDLE);
        let until = tokio::time::Instant::now() + wait;
        loop {
            let free = self.free_slots();
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if free == 0 || left.is_zero() {
                return;
            }
            let request = self.claim_request(free);
            // Nothing due is waiting for a slot (not `blocked`): a finished delivery alone
            // need not wake us.
            let handed = tokio::select! {
                _ = shutdown.cancelled() => return,
                jobs = self.store.wait_or_take_hand_off(&self.config.name, &request, left, blocked) => jobs,
            };
            if handed.is_empty() {
                return;
            }
            tracing::trace!(handed_off = handed.len(), "attempts handed off");
            handed.into_iter().for_each(|job| self.start(job, &request));
        }
    }

    fn start(&mut self, job: DeliveryJob, request: &ClaimRequest) {
        let attempt = &job.attempt;
        let high_priority = request.is_high_priority(attempt.retry_count);
        let span = tracing::info_span!(
            "request_attempt",
            attempt_id = %attempt.attempt_id,
            event_id = %attempt.event_id,
            subscription_id = %attempt.subscription_id,
            application_id = %attempt.application_id,
            retry_count = attempt.retry_count,
            outcome = tracing::field::Empty,
            http_status = tracing::field::Empty,
        );
        let attempt_id = attempt.attempt_id;
        let client = self.client.clone();
        let config = self.config.clone();
        let outcomes = self.outcomes.clone();
        let pace = self.pace.clone();
        let subscription_id = attempt.subscription_id;
        let delivery = async move {
            let started = std::time::Instant::now();
            let outcome = deliver(&client, &config, &job).await;
            pace.record(subscription_id, outcome.succeeded, started.elapsed());
            metrics::record(&job, &outcome);
            let lag_ms = (outcome.completed_at - job.due_at).num_milliseconds();
            tracing::debug!(
                succeeded = outcome.succeeded,
                error = outcome.response.error_name.as_deref(),
                http_code = outcome.response.http_code,
                elapsed_ms = outcome.response.elapsed_time_ms,
                lag_ms,
                retry_at = ?outcome.retry_at,
                "delivery finished"
            );
            if outcomes.send(outcome).await.is_err() {
                tracing::warn!(
                    "outcome recorder is gone; the attempt is delivered again when its lease ends"
                );
            }
        };
        self.in_flight.spawn(
            attempt_id,
            subscription_id,
            high_priority,
            delivery.instrument(span),
        );
    }
}
