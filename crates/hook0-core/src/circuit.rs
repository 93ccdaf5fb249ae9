//! The circuit breaker of a subscription: after `failure_threshold` consecutive failed
//! deliveries the circuit opens and no request goes to the target for a cool-down; then exactly
//! one attempt is let through as a probe (half-open). A successful probe closes the circuit, a
//! failed one opens it again for a longer cool-down (doubling up to a cap).
//!
//! Attempts held back by an open circuit are delayed, never failed: they keep their retry count.
//! The store keeps one [`Circuit`] per subscription and applies these transitions in the same
//! write as the delivery outcome that causes them; the claim asks [`Circuit::admission`] what it
//! may take. Pure: the caller supplies the clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Failed deliveries in a row that open a closed circuit (`CIRCUIT_FAILURE_THRESHOLD`).
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// First cool-down of an open circuit (`CIRCUIT_COOLDOWN`).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Longest cool-down, reached after repeated failed probes (`CIRCUIT_MAX_COOLDOWN`).
pub const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Deliveries flow.
    Closed,
    /// No delivery until `open_until`.
    Open,
    /// One probe is (or may be) in flight; its outcome closes or re-opens the circuit.
    HalfOpen,
}

impl CircuitState {
    /// The name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Closed, Self::Open, Self::HalfOpen]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// When a circuit opens and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitPolicy {
    /// Consecutive failures that open a closed circuit; 0 disables the breaker.
    pub failure_threshold: u32,
    /// Cool-down after the first opening.
    pub cooldown: Duration,
    /// Cool-downs double at each failed probe up to this.
    pub max_cooldown: Duration,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            cooldown: DEFAULT_COOLDOWN,
            max_cooldown: DEFAULT_MAX_COOLDOWN,
        }
    }
}

impl CircuitPolicy {
    /// Cool-down of the `trips`-th opening in a row (1-based): `cooldown × 2^(trips−1)`, capped.
    pub fn cooldown(&self, trips: u32) -> Duration {
        let doublings = trips.saturating_sub(1).min(31);
        self.cooldown
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_cooldown)
            .min(self.max_cooldown.max(self.cooldown))
    }
}

/// A subscription's breaker and its memory of failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    pub state: CircuitState,
    /// When the circuit entered `state`; `None` while it never left `Closed`.
    pub since: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// While open: when the probe may be sent.
    pub open_until: Option<DateTime<Utc>>,
    /// Openings since the circuit last closed: the cool-down grows with them.
    pub trips: u32,
    /// The first failure since the last success: how long the target has been failing
    /// continuously (auto-disable).
    pub failing_since: Option<DateTime<Utc>>,
}

impl Default for Circuit {
    fn default() -> Self {
        Self {
            state: CircuitState::Closed,
            since: None,
            consecutive_failures: 0,
            open_until: None,
            trips: 0,
            failing_since: None,
        }
    }
}

/// A change of state caused by an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Unchanged,
    /// Attempts must be held until this time.
    Opened {
        until: DateTime<Utc>,
    },
    /// Attempts held by the circuit may go again.
    Closed,
}

/// What a claim may do with the due attempts of one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Take them, within the in-flight cap.
    Admit,
    /// Take exactly one, as the probe, and hold the others until its outcome.
    Probe,
    /// Take none; they are due again at this time.
    Hold { until: DateTime<Utc> },
}

impl Circuit {
    /// A delivery succeeded: the target works, the circuit closes.
    pub fn record_success(&mut self, at: DateTime<Utc>) -> Transition {
        self.consecutive_failures = 0;
        self.failing_since = None;
        self.trips = 0;
        self.open_until = None;
        if self.state == CircuitState::Closed {
            return Transition::Unchanged;
        }
        self.state = CircuitState::Closed;
        self.since = Some(at);
        Transition::Closed
    }

    /// A delivery failed: count it, open the circuit at the threshold or when a probe failed.
    /// Failures reported while already open (deliveries that were in flight when it opened) do
    /// not extend the cool-down.
    pub fn record_failure(&mut self, at: DateTime<Utc>, policy: &CircuitPolicy) -> Transition {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.failing_since.get_or_insert(at);
        let opens = match self.state {
            CircuitState::Closed => {
                policy.failure_threshold > 0
                    && self.consecutive_failures >= policy.failure_threshold
            }
            CircuitState::HalfOpen => true,
            CircuitState::Open => false,
        };
        if !opens {
            return Transition::Unchanged;
        }
        self.trips = self.trips.saturating_add(1);
        let cooldown = chrono::Duration::from_std(policy.cooldown(self.trips))
            .unwrap_or(chrono::Duration::MAX);
        let until = at
            .checked_add_signed(cooldown)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.state = CircuitState::Open;
        self.since = Some(at);
        self.open_until = Some(until);
        Transition::Opened { until }
    }

    /// What a claim at `now` may take, given how many of the subscription's attempts are in
    /// flight. `probe_horizon` is how long to hold the others while a probe runs (the lease
    /// end: the probe's outcome releases them sooner).
    pub fn admission(
        &self,
        now: DateTime<Utc>,
        in_flight: u32,
        probe_horizon: DateTime<Utc>,
    ) -> Admission {
        match self.state {
            CircuitState::Closed => Admission::Admit,
            CircuitState::Open => match self.open_until {
                Some(until) if until > now => Admission::Hold { until },
                _ => Admission::Probe,
            },
            // A half-open circuit with nothing in flight lost its probe (lease expired or
            // released on shutdown): another one may go.
            CircuitState::HalfOpen if in_flight == 0 => Admission::Probe,
            CircuitState::HalfOpen => Admission::Hold {
                until: probe_horizon,
            },
        }
    }

    /// The claim took the probe.
    pub fn start_probe(&mut self, now: DateTime<Utc>) {
        self.state = CircuitState::HalfOpen;
        self.since = Some(now);
        self.open_until = None;
    }

    /// True when the target has failed without a success for at least `window`, with at least
    /// `min_failures` failures: the subscription is to be disabled.
    pub fn failing_for(&self, now: DateTime<Utc>, window: Duration, min_failures: u32) -> bool {
        let Some(since) = self.failing_since else {
            return false;
        };
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        self.consecutive_failures >= min_failures.max(1) && now - since >= window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn policy() -> CircuitPolicy {
        CircuitPolicy {
            failure_threshold: 3,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(100),
        }
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap() {
        let p = policy();
        let secs: Vec<u64> = (1..=5).map(|t| p.cooldown(t).as_secs()).collect();
        assert_eq!(secs, [30, 60, 100, 100, 100]);
        assert_eq!(p.cooldown(u32::MAX), Duration::from_secs(100));
        assert_eq!(CircuitPolicy::default().cooldown(8).as_secs(), 3600);
    }

    #[test]
    fn opens_at_the_threshold_then_probes_then_closes() {
        let p = policy();
        let mut c = Circuit::default();
        assert_eq!(c.record_failure(at(0), &p), Transition::Unchanged);
        assert_eq!(c.record_failure(at(1), &p), Transition::Unchanged);
        assert_eq!(c.admission(at(1), 0, at(60)), Admission::Admit);
        assert_eq!(
            c.record_failure(at(2), &p),
            Transition::Opened { until: at(32) }
        );
        assert_eq!(c.state, CircuitState::Open);
        assert_eq!(c.since, Some(at(2)));
        // In-flight stragglers failing do not extend the cool-down.
        assert_eq!(c.record_failure(at(3), &p), Transition::Unchanged);
        assert_eq!(c.open_until, Some(at(32)));
        assert_eq!(
            c.admission(at(31), 0, at(90)),
            Admission::Hold { until: at(32) }
        );
        assert_eq!(c.admission(at(32), 0, at(90)), Admission::Probe);
        c.start_probe(at(33));
        assert_eq!(c.state, CircuitState::HalfOpen);
        assert_eq!(
            c.admission(at(34), 1, at(90)),
            Admission::Hold { until: at(90) }
        );
        assert_eq!(c.record_success(at(35)), Transition::Closed);
        assert_eq!(
            c,
            Circuit {
                state: CircuitState::Closed,
                since: Some(at(35)),
                ..Circuit::default()
            }
        );
    }

    #[test]
    fn a_failed_probe_reopens_for_longer() {
        let p = policy();
        let mut c = Circuit::default();
        for s in 0..3 {
            c.record_failure(at(s), &p);
        }
        c.start_probe(at(40));
        assert_eq!(
            c.record_failure(at(41), &p),
            Transition::Opened { until: at(101) }
        );
        assert_eq!(c.trips, 2);
        c.start_probe(at(101));
        assert_eq!(
            c.record_failure(at(102), &p),
            Transition::Opened { until: at(202) }
        );
        assert_eq!(c.failing_since, Some(at(0)));
        assert_eq!(c.consecutive_failures, 5);
    }

    #[test]
    fn a_lost_probe_may_be_replaced() {
        let mut c = Circuit::default();
        c.start_probe(at(0));
        assert_eq!(c.admission(at(1), 0, at(60)), Admission::Probe);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let p = CircuitPolicy {
            failure_threshold: 0,
            ..policy()
        };
        let mut c = Circuit::default();
        for s in 0..100 {
            assert_eq!(c.record_failure(at(s), &p), Transition::Unchanged);
        }
        assert_eq!(c.state, CircuitState::Closed);
    }

    #[test]
    fn failing_for_needs_the_window_and_enough_failures() {
        let p = policy();
        let window = Duration::from_secs(100);
        let mut c = Circuit::default();
        assert!(!c.failing_for(at(1000), window, 3));
        c.record_failure(at(0), &p);
        assert!(
            !c.failing_for(at(200), window, 3),
            "one failure is not enough"
        );
        c.record_failure(at(10), &p);
        c.record_failure(at(20), &p);
        assert!(!c.failing_for(at(99), window, 3));
        assert!(c.failing_for(at(100), window, 3));
        c.record_success(at(101));
        assert!(!c.failing_for(at(500), window, 3));
    }

    #[test]
    fn states_round_trip() {
        for s in [
            CircuitState::Closed,
            CircuitState::Open,
            CircuitState::HalfOpen,
        ] {
            assert_eq!(CircuitState::parse(s.as_str()), Some(s));
        }
        assert_eq!(CircuitState::parse("ajar"), None);
    }
}
