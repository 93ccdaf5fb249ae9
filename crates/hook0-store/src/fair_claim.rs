//! What a fair claim takes, decided without I/O so that every backend applies the same rules:
//! each backend reads the due attempts (oldest first, bounded by [`SCAN_BUDGET`]), the leases
//! in flight per subscription and the circuits of the subscriptions seen, calls [`plan`], and
//! writes the plan back in the same transaction.
//!
//! Per subscription:
//! - **circuit open**: none is taken; each attempt read is held until the cool-down ends;
//! - **cool-down over** (or a half-open probe lost): exactly one is taken as the probe and the
//!   circuit goes half-open; the backend then holds the subscription's other pending attempts
//!   until the probe's lease horizon (its outcome releases them sooner);
//! - **closed**: up to its cap minus its attempts under lease (every worker's leases count: the
//!   cap protects the target, not the worker). The cap is `max_in_flight_per_subscription`, or
//!   the higher `max_in_flight_per_fast_subscription` for a subscription the worker lists as
//!   keeping up (its recent deliveries quick successes). The others read stay
//!   where they are, unless the subscription is *stalled* (its oldest lease is older than
//!   [`STALL_AFTER`]: a slow or hanging target): then they are *parked* for [`PARK_FOR`], and
//!   released sooner, one per finished delivery of that subscription, when outcomes are
//!   recorded. A hanging target's backlog thus leaves the head of the queue once read, instead
//!   of being walked over by every claim, while a fast target's backlog costs no writes (it
//!   drains within a few claims; parking it was most of the claim's cost).
//!
//! The candidates are taken round-robin across subscriptions (each one's oldest, then each
//! one's second, …: `ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY due_at)`), high
//! priority (`retry_count < hp_retry_cutoff`) before low, within the per-class limits the
//! worker computed from the capacity it reserves to each class.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hook0_core::circuit::{Admission, Circuit};
use hook0_core::delivery::ClaimRequest;
use uuid::Uuid;

/// Most due attempts one claim reads: bounds the work of a claim that meets a large blocked
/// backlog (which it parks or holds, so the next claim reads past it).
pub const SCAN_BUDGET: u32 = 2048;

/// A subscription at its cap whose oldest lease started longer ago than this is stalled: its
/// attempts beyond the cap are parked. A lease also spans the wait for its outcome's commit,
/// which a busy server stretches to tens of milliseconds: one second tells a slow or hanging
/// target from a busy pipeline.
pub const STALL_AFTER: Duration = Duration::from_secs(1);

/// How long a stalled subscription's backlog stays parked (at most the lease). Each finished
/// delivery of the subscription lets one go sooner; this bound is for a release that is lost:
/// on PostgreSQL a claim parking the backlog and the outcome of the subscription's last
/// delivery can commit in either order, and an outcome that commits first releases nothing
/// (it cannot see the parking). Parked until the lease horizon, that backlog waited a whole
/// lease (60 s) with nothing in flight to release it.
pub const PARK_FOR: Duration = Duration::from_secs(5);

/// Until when a backlog parked at `now` stays parked ([`PARK_FOR`], at most the lease).
pub fn park_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    after(now, PARK_FOR.min(lease))
}

/// When a lease of `lease` granted at `now` ends.
pub fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    after(now, lease)
}

/// `now + span`, or the end of time when that does not fit.
fn after(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(span)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A subscription's attempts under lease, as the claim reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leases {
    pub count: u32,
    /// When the oldest of them ends.
    pub oldest_end: DateTime<Utc>,
}

impl Leases {
    /// Whether the oldest lease (all last `lease`) started more than [`STALL_AFTER`] before
    /// `now`.
    fn stalled(&self, now: DateTime<Utc>, lease: Duration) -> bool {
        let waited = lease.saturating_sub((self.oldest_end - now).to_std().unwrap_or_default());
        waited > STALL_AFTER
    }
}

/// The subscriptions at their cap, which could take nothing (a claim looking for work passes
/// over them), and, of those, the stalled ones (their backlog is to be parked wherever it is).
pub fn at_cap(
    request: &ClaimRequest,
    now: DateTime<Utc>,
    in_flight: &HashMap<Uuid, Leases>,
) -> (Vec<Uuid>, Vec<Uuid>) {
    let full: Vec<(Uuid, &Leases)> = in_flight
        .iter()
        .filter(|(id, leases)| leases.count >= request.cap_of(id))
        .map(|(id, leases)| (*id, leases))
        .collect();
    let stalled = full
        .iter()
        .filter(|(_, leases)| leases.stalled(now, request.lease))
        .map(|(id, _)| *id)
        .collect();
    (full.into_iter().map(|(id, _)| id).collect(), stalled)
}

/// What a claim reads of a subscription it found with attempts due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Its circuit holds them until `until`.
    Hold { until: DateTime<Utc> },
    /// Up to `n` of its oldest due attempts (one for a probe); when `stalled`, what is not taken
    /// is to be parked.
    Take { n: u32, stalled: bool },
}

/// Decides [`Read`] for one subscription from its leases (none: nothing in flight) and circuit,
/// as [`plan`] will admit them.
pub fn read(
    request: &ClaimRequest,
    now: DateTime<Utc>,
    lease_end: DateTime<Utc>,
    subscription_id: &Uuid,
    leases: Option<&Leases>,
    circuit: &Circuit,
) -> Read {
    let flying = leases.map_or(0, |l| l.count);
    match circuit.admission(now, flying, lease_end) {
        Admission::Hold { until } => Read::Hold { until },
        Admission::Probe => Read::Take {
            n: 1,
            stalled: false,
        },
        Admission::Admit => Read::Take {
            n: request
                .cap_of(subscription_id)
                .saturating_sub(flying)
                .min(request.limit),
            stalled: leases.is_some_and(|l| l.stalled(now, request.lease)),
        },
    }
}

/// A due attempt as a claim reads it; `K` is how the backend addresses the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueAttempt<K> {
    pub key: K,
    pub subscription_id: Uuid,
    pub retry_count: i32,
}

/// What to write back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPlan<K> {
    /// To lease, in this order.
    pub claimed: Vec<K>,
    /// Subscriptions whose probe is among `claimed`: their circuit goes half-open and their other
    /// pending attempts are held until the lease horizon.
    pub probes: Vec<Uuid>,
    /// Held by an open circuit: due again at the given time.
    pub held: Vec<(K, DateTime<Utc>)>,
    /// Beyond the cap of a stalled subscription: parked for [`PARK_FOR`].
    pub parked: Vec<K>,
}

/// One subscription's share of the claim.
struct Lane {
    admission: Admission,
    /// How many of its attempts may still go in flight.
    room: u32,
    /// Candidates taken from it so far.
    taken: u32,
    /// Its attempts beyond the cap are parked.
    stalled: bool,
}

struct Candidate<K> {
    key: K,
    subscription_id: Uuid,
    high_priority: bool,
    /// Position among its subscription's candidates: the round-robin key.
    rank: u32,
    /// Position in due order.
    order: usize,
}

/// Decides the claim. `due` is in due order; a subscription missing from `in_flight` has none
/// in flight, one missing from `circuits` a closed circuit; `lease_end` is the end of the
/// leases this claim grants.
pub fn plan<K: Copy>(
    request: &ClaimRequest,
    now: DateTime<Utc>,
    lease_end: DateTime<Utc>,
    due: &[DueAttempt<K>],
    in_flight: &HashMap<Uuid, Leases>,
    circuits: &HashMap<Uuid, Circuit>,
) -> ClaimPlan<K> {
    let mut plan = ClaimPlan {
        claimed: Vec::new(),
        probes: Vec::new(),
        held: Vec::new(),
        parked: Vec::new(),
    };
    let mut lanes: HashMap<Uuid, Lane> = HashMap::new();
    let mut candidates = Vec::new();
    for (order, attempt) in due.iter().enumerate() {
        let lane = lanes.entry(attempt.subscription_id).or_insert_with(|| {
            let leases = in_flight.get(&attempt.subscription_id);
            let flying = leases.map_or(0, |l| l.count);
            let circuit = circuits
                .get(&attempt.subscription_id)
                .cloned()
                .unwrap_or_default();
            Lane {
                admission: circuit.admission(now, flying, lease_end),
                room: request
                    .cap_of(&attempt.subscription_id)
                    .saturating_sub(flying),
                taken: 0,
                stalled: leases.is_some_and(|l| l.stalled(now, request.lease)),
            }
        });
        let room = match lane.admission {
            Admission::Hold { until } => {
                plan.held.push((attempt.key, until));
                continue;
            }
            Admission::Probe => 1,
            Admission::Admit => lane.room,
        };
        if lane.taken < room {
            candidates.push(Candidate {
                key: attempt.key,
                subscription_id: attempt.subscription_id,
                high_priority: request.is_high_priority(attempt.retry_count),
                rank: lane.taken,
                order,
            });
            lane.taken += 1;
        } else if lane.admission == Admission::Admit && lane.stalled {
            plan.parked.push(attempt.key);
        }
        // A probe lane's other attempts are held by the backend once the probe is claimed.
    }

    candidates.sort_by_key(|c| (!c.high_priority, c.rank, c.order));
    let (mut high, mut low) = (0, 0);
    for candidate in candidates {
        if plan.claimed.len() >= request.limit as usize {
            break;
        }
        let (count, max) = if candidate.high_priority {
            (&mut high, request.max_high_priority)
        } else {
            (&mut low, request.max_low_priority)
        };
        if *count >= max {
            continue;
        }
        *count += 1;
        plan.claimed.push(candidate.key);
        if lanes[&candidate.subscription_id].admission == Admission::Probe {
            plan.probes.push(candidate.subscription_id);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;
    use hook0_core::circuit::{CircuitPolicy, CircuitState};

    use super::*;

    fn leases(count: u32, oldest_end: DateTime<Utc>) -> Leases {
        Leases { count, oldest_end }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn request(limit: u32, cap: u32) -> ClaimRequest {
        ClaimRequest {
            limit,
            lease: Duration::from_secs(60),
            max_in_flight_per_subscription: cap,
            fast_subscriptions: Vec::new(),
            max_in_flight_per_fast_subscription: cap,
            hp_retry_cutoff: 2,
            max_high_priority: limit,
            max_low_priority: limit,
        }
    }

    /// Subscriptions `a`, `b`, `c` and due attempts keyed 0, 1, 2… in the order given.
    fn due(subs: &[(Uuid, i32)]) -> Vec<DueAttempt<usize>> {
        subs.iter()
            .enumerate()
            .map(|(key, (subscription_id, retry_count))| DueAttempt {
                key,
                subscription_id: *subscription_id,
                retry_count: *retry_count,
            })
            .collect()
    }

    fn ids() -> (Uuid, Uuid, Uuid) {
        let mut ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        ids.sort();
        (ids[0], ids[1], ids[2])
    }

    #[test]
    fn round_robin_across_subscriptions_then_park_beyond_the_cap() {
        let (a, b, c) = ids();
        let due = due(&[(a, 0), (a, 0), (a, 0), (a, 0), (b, 0), (c, 0), (b, 0)]);
        // `a`'s lease started 5 s ago: stalled.
        let in_flight = HashMap::from([(a, leases(1, at(55)))]);
        let plan = plan(
            &request(10, 3),
            at(0),
            at(60),
            &due,
            &in_flight,
            &HashMap::new(),
        );
        // Ranks: a0 b4 c5 | a1 b6 | (a2 is beyond a's room of 2, parked with a3).
        assert_eq!(plan.claimed, [0, 4, 5, 1, 6]);
        assert_eq!(plan.parked, [2, 3]);
        assert!(plan.held.is_empty() && plan.probes.is_empty());

        let plan = super::plan(
            &request(2, 3),
            at(0),
            at(60),
            &due,
            &in_flight,
            &HashMap::new(),
        );
        assert_eq!(
            plan.claimed,
            [0, 4],
            "the limit cuts the round-robin, nothing more parked"
        );
        assert_eq!(plan.parked, [2, 3]);
    }

    #[test]
    fn a_busy_subscription_that_is_not_stalled_keeps_its_backlog_in_place() {
        let (a, b, _) = ids();
        let due = due(&[(a, 0), (a, 0), (a, 0), (b, 0)]);
        // `a`'s lease started 10 ms ago: at its cap of 2 with 1 in flight, one more goes.
        let in_flight = HashMap::from([(a, leases(1, at(60) - TimeDelta::milliseconds(10)))]);
        let plan = plan(
            &request(10, 2),
            at(0),
            at(60),
            &due,
            &in_flight,
            &HashMap::new(),
        );
        assert_eq!(plan.claimed, [0, 3]);
        assert!(plan.parked.is_empty(), "no write for a target keeping up");
    }

    #[test]
    fn high_priority_first_within_class_limits() {
        let (a, b, _) = ids();
        let due = due(&[(a, 5), (a, 3), (b, 0), (b, 1)]);
        let plan = plan(
            &request(10, 10),
            at(0),
            at(60),
            &due,
            &HashMap::new(),
            &HashMap::new(),
        );
        assert_eq!(plan.claimed, [2, 3, 0, 1]);
        let mut no_low = request(10, 10);
        no_low.max_low_priority = 0;
        let plan = super::plan(
            &no_low,
            at(0),
            at(60),
            &due,
            &HashMap::new(),
            &HashMap::new(),
        );
        assert_eq!(plan.claimed, [2, 3]);
        let mut one_high = request(10, 10);
        one_high.max_high_priority = 1;
        let plan = super::plan(
            &one_high,
            at(0),
            at(60),
            &due,
            &HashMap::new(),
            &HashMap::new(),
        );
        assert_eq!(plan.claimed, [2, 0, 1]);
    }

    #[test]
    fn open_circuits_hold_and_a_finished_cooldown_lets_one_probe() {
        let (a, b, c) = ids();
        let policy = CircuitPolicy {
            failure_threshold: 1,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(60),
        };
        let mut open = Circuit::default();
        open.record_failure(at(0), &policy);
        let mut cooled = Circuit::default();
        cooled.record_failure(at(-100), &policy);
        let mut probing = cooled.clone();
        probing.start_probe(at(-1));
        let circuits = HashMap::from([(a, open), (b, cooled), (c, probing)]);
        let due = due(&[(a, 0), (b, 0), (b, 0), (c, 0), (a, 1)]);
        let in_flight = HashMap::from([(c, leases(1, at(69)))]);
        let plan = plan(
            &request(10, 10),
            at(10),
            at(70),
            &due,
            &in_flight,
            &circuits,
        );
        assert_eq!(plan.claimed, [1], "b's probe only");
        assert_eq!(plan.probes, [b]);
        assert_eq!(plan.held, [(0, at(30)), (3, at(70)), (4, at(30))]);
        assert!(
            plan.parked.is_empty(),
            "b's second waits for the probe, held by the backend"
        );
        assert_eq!(circuits[&c].state, CircuitState::HalfOpen);
    }

    #[test]
    fn a_probe_left_out_by_the_class_limit_does_not_count() {
        let (a, _, _) = ids();
        let policy = CircuitPolicy {
            failure_threshold: 1,
            ..CircuitPolicy::default()
        };
        let mut cooled = Circuit::default();
        cooled.record_failure(at(-1000), &policy);
        let circuits = HashMap::from([(a, cooled)]);
        let mut no_low = request(10, 10);
        no_low.max_low_priority = 0;
        let plan = plan(
            &no_low,
            at(0),
            at(60),
            &due(&[(a, 4)]),
            &HashMap::new(),
            &circuits,
        );
        assert!(plan.claimed.is_empty() && plan.probes.is_empty());
    }
}
