//! The worker's settings in one typed struct. The binary fills it from flags and environment;
//! tests build it with `..Default::default()`. Defaults follow upstream where upstream has one
//! (timeouts, signature, retry schedule, `HP_RETRY_CUTOFF`) and our queue design where it does
//! not (batches, lease, per-subscription cap, circuit breaker, auto-disable).

use crate::ssrf_resolver::DnsSettings;
use std::time::Duration;

use hook0_core::circuit::CircuitPolicy;
use hook0_core::delivery::OutcomePolicy;
use hook0_core::retry::RetryPolicy;
use hook0_core::signature::SignatureVersions;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Recorded on the attempts this worker claims (`worker_name`).
    pub name: String,
    /// Most deliveries in flight at once.
    pub concurrency: usize,
    /// Most attempts claimed in one store call.
    pub batch_size: u32,
    /// How long a claim is ours; must exceed `timeout` so a live delivery is never claimed twice.
    pub lease: Duration,
    /// Budget for DNS resolution plus TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Budget for a whole delivery: connection, request and response.
    pub timeout: Duration,
    /// Response bodies are stored up to this many bytes; the rest is not read.
    pub max_response_body_bytes: usize,
    pub signature_header_name: String,
    pub signature_versions: SignatureVersions,
    pub retry: RetryPolicy,
    /// Allow targets on private, loopback and other non-global addresses (`DISABLE_TARGET_IP_CHECK`).
    pub disable_target_ip_check: bool,
    /// Longest idle sleep between claims, should a wake-up be missed.
    pub poll_interval: Duration,
    /// On shutdown, how long in-flight deliveries may run before they are cut short and released.
    pub shutdown_grace: Duration,
    /// Most deliveries to one subscription in flight at once, all workers together
    /// (`MAX_IN_FLIGHT_PER_SUBSCRIPTION`): a hanging or slow target holds at most this many
    /// slots, the rest keep flowing to the others.
    pub max_in_flight_per_subscription: u32,
    /// The cap of a subscription whose endpoint keeps up (`MAX_IN_FLIGHT_PER_FAST_SUBSCRIPTION`,
    /// see [`crate::pace`]); `None`: `concurrency`.
    pub max_in_flight_per_fast_subscription: Option<u32>,
    /// Attempts with a `retry_count` below this are high priority (`HP_RETRY_CUTOFF`): first
    /// attempts and early retries go ahead of a backlog of retries.
    pub hp_retry_cutoff: i32,
    /// Slots only high-priority attempts may use (`CONCURRENT_HP_RESERVED`); `None`: a quarter
    /// of `concurrency`.
    pub hp_reserved: Option<usize>,
    /// Slots only retries may use (`CONCURRENT_LP_RESERVED`), so they progress under a steady
    /// flow of fresh events; `None`: a sixteenth of `concurrency`.
    pub lp_reserved: Option<usize>,
    /// When a subscription's circuit opens and for how long (`CIRCUIT_*`).
    pub circuit: CircuitPolicy,
    /// Disable a subscription failing without a success for this long
    /// (`SUBSCRIPTION_AUTO_DISABLE_AFTER`); `None` never does.
    pub auto_disable_after: Option<Duration>,
    /// Where operational events (e.g. `api.subscription.disabled`) are POSTed as JSON
    /// (`OPERATIONAL_WEBHOOK_URL`); `None`: they are only listed by the API.
    pub operational_webhook_url: Option<url::Url>,
    /// How target names are resolved (`DNS_*`); `check_ip` follows `disable_target_ip_check`.
    pub dns: DnsSettings,
    /// Where this worker says it is alive (`MONITORING_HEARTBEAT_URL`), and how often at most.
    pub heartbeat: Option<Heartbeat>,
    /// The relay of the API in this process (`hook0 serve`): deliveries to its URLs are handed
    /// over in memory.
    pub local_relay: Option<SharedRelay>,
}

/// A relay the worker hands deliveries to (see [`hook0_core::relay`]).
#[derive(Clone)]
pub struct SharedRelay(pub std::sync::Arc<dyn hook0_core::relay::LocalRelay>);

impl std::fmt::Debug for SharedRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedRelay")
    }
}

/// `POST {worker_name, worker_version}` to a monitoring URL, at most once per `min_period`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub url: url::Url,
    pub min_period: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: "hook0-worker".to_owned(),
            concurrency: 64,
            batch_size: 64,
            lease: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_response_body_bytes: 64 * 1024,
            signature_header_name: "X-Hook0-Signature".to_owned(),
            signature_versions: SignatureVersions::default(),
            retry: RetryPolicy::default(),
            disable_target_ip_check: false,
            poll_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(20),
            max_in_flight_per_subscription: 8,
            max_in_flight_per_fast_subscription: None,
            hp_retry_cutoff: 2,
            hp_reserved: None,
            lp_reserved: None,
            circuit: CircuitPolicy::default(),
            auto_disable_after: Some(Duration::from_secs(5 * 24 * 3600)),
            operational_webhook_url: None,
            dns: DnsSettings::default(),
            heartbeat: None,
            local_relay: None,
        }
    }
}

impl WorkerConfig {
    /// Refuses settings the dispatch loop cannot honour.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("worker concurrency must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("worker batch size must be at least 1".into());
        }
        if self.lease <= self.timeout {
            return Err(format!(
                "worker lease ({:?}) must exceed the delivery timeout ({:?})",
                self.lease, self.timeout
            ));
        }
        if self.max_in_flight_per_subscription == 0 {
            return Err("the in-flight cap per subscription must be at least 1".into());
        }
        if self.hp_reserved() + self.lp_reserved() >= self.concurrency {
            return Err(format!(
                "reserved slots (high priority {} + low priority {}) must leave at least one of the {} shared",
                self.hp_reserved(),
                self.lp_reserved(),
                self.concurrency
            ));
        }
        if http::HeaderName::from_bytes(self.signature_header_name.as_bytes()).is_err() {
            return Err(format!(
                "`{}` is not a valid signature header name",
                self.signature_header_name
            ));
        }
        Ok(())
    }

    /// The cap of a subscription whose endpoint keeps up; never below the ordinary one.
    pub fn max_in_flight_per_fast_subscription(&self) -> u32 {
        self.max_in_flight_per_fast_subscription
            .unwrap_or_else(|| u32::try_from(self.concurrency).unwrap_or(u32::MAX))
            .max(self.max_in_flight_per_subscription)
    }

    /// Slots reserved for high-priority attempts.
    pub fn hp_reserved(&self) -> usize {
        self.hp_reserved.unwrap_or(self.concurrency / 4)
    }

    /// Slots reserved for retries.
    pub fn lp_reserved(&self) -> usize {
        self.lp_reserved.unwrap_or(self.concurrency / 16)
    }

    /// What recording an outcome does to a subscription's circuit and enablement.
    pub fn outcome_policy(&self) -> OutcomePolicy {
        OutcomePolicy {
            circuit: self.circuit,
            auto_disable_after: self.auto_disable_after,
        }
    }

    /// What resolution uses: `dns`, with at most 90 % of the connect budget (so a slow
    /// resolver is reported as a DNS failure rather than as a connect timeout) and the SSRF
    /// check unless it is disabled.
    pub(crate) fn dns_settings(&self) -> DnsSettings {
        DnsSettings {
            timeout: self.dns.timeout.min(self.connect_timeout.mul_f64(0.9)),
            check_ip: !self.disable_target_ip_check,
            ..self.dns.clone()
        }
    }
}
