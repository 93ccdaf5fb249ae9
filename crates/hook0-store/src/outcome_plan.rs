//! What a batch of delivery outcomes writes, decided without I/O so that both backends apply
//! the same rules (as [`crate::fair_claim`] does for the claim). A backend finishes the
//! attempts (the guard keeps only those finished now: a second report is a no-op), reads their
//! subscriptions' circuits, calls [`plan`] and executes its writes, in order, in the same
//! transaction.
//!
//! Per outcome, in the batch's order:
//! - the subscription's circuit moves (a success closes it; a failure counts, and opens it at
//!   the policy's threshold). An opening **holds** the subscription's pending attempts until
//!   the cool-down ends; a closing **releases** what the circuit held;
//! - a failure of a subscription failing continuously for longer than the policy allows
//!   **auto-disables** it (the backend also fails its pending attempts and reports it);
//! - a failure with a retry time, whose subscription was not just disabled, gets a **retry
//!   row** (retry count + 1) due at the retry time, or at the end of the cool-down when the
//!   circuit is open; any other failure is a **dead letter**.
//!
//! - an attempt in an ordered key's line (`crate::ordering`) that succeeded, or became a dead
//!   letter under the `continue` policy, **advances** its key; a dead letter under `hold`
//!   **holds** it (a retry row keeps the key's place, and a disabled subscription's lines are
//!   gone with it).
//!
//! Then each subscription whose circuit is closed lets go as many **parked** attempts as it
//! finished deliveries, and each circuit the batch changed is **saved**.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hook0_core::circuit::{Circuit, CircuitState, Transition};
use hook0_core::delivery::{AttemptRef, DeliveryOutcome, OutcomePolicy};
use hook0_core::model::OnDeadLetter;
use uuid::Uuid;

/// One write of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// The circuit opened: the subscription's pending attempts wait until `until`.
    HoldPending {
        subscription_id: Uuid,
        until: DateTime<Utc>,
    },
    /// The circuit closed: what it held is due again.
    ReleaseHeld { subscription_id: Uuid },
    /// The subscription has failed for too long: disable it (its pending attempts fail).
    AutoDisable {
        subscription_id: Uuid,
        /// The circuit at that moment, for the report.
        circuit: Circuit,
        at: DateTime<Utc>,
    },
    /// The next try of a failed attempt: a new attempt with `retry_count + 1`, created at
    /// `created_at`, retried at `delay_until`, claimable from `due_at`. The backend inserts it
    /// only while the subscription is live and enabled.
    Retry {
        attempt: AttemptRef,
        created_at: DateTime<Utc>,
        delay_until: DateTime<Utc>,
        due_at: DateTime<Utc>,
    },
    /// A failure with no next try: parked for redelivery.
    DeadLetter { attempt_id: Uuid, at: DateTime<Utc> },
    /// The key's next waiting attempt becomes due (or the key falls idle).
    AdvanceKey { subscription_id: Uuid, key: String },
    /// The key waits on the dead letter `attempt_id` until it is redelivered.
    HoldKey {
        subscription_id: Uuid,
        key: String,
        attempt_id: Uuid,
        at: DateTime<Utc>,
    },
}

/// The ordering of an attempt in a key's line, as the backend read it when finishing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    pub key: String,
    pub on_dead_letter: OnDeadLetter,
}

/// Everything a batch of outcomes writes beyond finishing its attempts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomePlan {
    /// In the order they must run (a hold covers the retry rows written before it).
    pub writes: Vec<Write>,
    /// After the writes: how many parked attempts each subscription (closed circuit) lets go,
    /// by subscription id.
    pub releases: Vec<(Uuid, usize)>,
    /// Circuits the batch changed, by subscription id: to save.
    pub circuits: Vec<(Uuid, Circuit)>,
}

impl OutcomePlan {
    /// Whether its writes make attempts due (now, or at a time a waiting worker has not
    /// seen): retry rows, a closed circuit's held attempts, a key's next attempt. Parked
    /// attempts let go count too, which only the backend's write can tell. Anything else only
    /// frees delivery slots: a worker that nothing due waits for need not be woken.
    pub fn makes_work_due(&self) -> bool {
        self.writes.iter().any(|w| {
            matches!(
                w,
                Write::Retry { .. } | Write::ReleaseHeld { .. } | Write::AdvanceKey { .. }
            )
        })
    }
}

/// What a batch of outcomes should wake, once committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Nothing was finished now (a repeated report).
    Nobody,
    /// Deliveries finished, making nothing due: a worker blocked by a cap.
    Slots,
    /// Attempts became due.
    Work,
}

impl Wake {
    /// For a batch that finished `finished` attempts now and made attempts due or not.
    pub fn after(finished: usize, work_due: bool) -> Self {
        match (finished, work_due) {
            (0, _) => Self::Nobody,
            (_, true) => Self::Work,
            (_, false) => Self::Slots,
        }
    }
}

/// The plan of `outcomes` (those finished now, in order) given the circuits as read
/// (a subscription absent from `circuits` has a closed, fresh one) and the keys of the
/// attempts in an ordered line, by attempt id.
pub fn plan(
    outcomes: &[&DeliveryOutcome],
    circuits: &HashMap<Uuid, Circuit>,
    keyed: &HashMap<Uuid, Keyed>,
    policy: &OutcomePolicy,
) -> OutcomePlan {
    let mut moved: HashMap<Uuid, Circuit> = HashMap::new();
    let mut finished: HashMap<Uuid, usize> = HashMap::new();
    let mut writes = Vec::new();
    for o in outcomes {
        let a = &o.attempt;
        let at = o.completed_at;
        *finished.entry(a.subscription_id).or_default() += 1;
        let circuit = moved.entry(a.subscription_id).or_insert_with(|| {
            circuits
                .get(&a.subscription_id)
                .cloned()
                .unwrap_or_default()
        });
        let transition = if o.succeeded {
            circuit.record_success(at)
        } else {
            circuit.record_failure(at, &policy.circuit)
        };
        match transition {
            Transition::Opened { until } => writes.push(Write::HoldPending {
                subscription_id: a.subscription_id,
                until,
            }),
            Transition::Closed => writes.push(Write::ReleaseHeld {
                subscription_id: a.subscription_id,
            }),
            Transition::Unchanged => {}
        }
        let line = keyed.get(&a.attempt_id);
        if o.succeeded {
            if let Some(line) = line {
                writes.push(Write::AdvanceKey {
                    subscription_id: a.subscription_id,
                    key: line.key.clone(),
                });
            }
            continue;
        }
        let disabled = policy.auto_disable_after.is_some_and(|window| {
            circuit.failing_for(at, window, policy.circuit.failure_threshold)
        });
        if disabled {
            writes.push(Write::AutoDisable {
                subscription_id: a.subscription_id,
                circuit: circuit.clone(),
                at,
            });
        }
        match o.retry_at {
            Some(retry_at) if !disabled => {
                let held_until = (circuit.state == CircuitState::Open)
                    .then_some(circuit.open_until)
                    .flatten();
                writes.push(Write::Retry {
                    attempt: a.clone(),
                    created_at: at,
                    delay_until: retry_at,
                    due_at: held_until.map_or(retry_at, |held| held.max(retry_at)),
                });
            }
            _ => {
                writes.push(Write::DeadLetter {
                    attempt_id: a.attempt_id,
                    at,
                });
                match line {
                    // Disabling failed the line with the subscription.
                    _ if disabled => {}
                    None => {}
                    Some(line) if line.on_dead_letter == OnDeadLetter::Hold => {
                        writes.push(Write::HoldKey {
                            subscription_id: a.subscription_id,
                            key: line.key.clone(),
                            attempt_id: a.attempt_id,
                            at,
                        })
                    }
                    Some(line) => writes.push(Write::AdvanceKey {
                        subscription_id: a.subscription_id,
                        key: line.key.clone(),
                    }),
                }
            }
        }
    }
    // An open circuit keeps them held; the claim would only hold them again.
    let mut releases: Vec<(Uuid, usize)> = finished
        .into_iter()
        .filter(|(id, _)| {
            moved
                .get(id)
                .is_none_or(|c| c.state == CircuitState::Closed)
        })
        .collect();
    releases.sort();
    // A healthy subscription's circuit does not change: no write for it.
    let mut changed: Vec<(Uuid, Circuit)> = moved
        .into_iter()
        .filter(|(id, circuit)| circuits.get(id).cloned().unwrap_or_default() != *circuit)
        .collect();
    changed.sort_by_key(|(id, _)| *id);
    OutcomePlan {
        writes,
        releases,
        circuits: changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use hook0_core::circuit::CircuitPolicy;
    use hook0_core::model::Response;
    use std::time::Duration;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn policy(threshold: u32, auto_disable_after: Option<Duration>) -> OutcomePolicy {
        OutcomePolicy {
            circuit: CircuitPolicy {
                failure_threshold: threshold,
                cooldown: Duration::from_secs(60),
                max_cooldown: Duration::from_secs(600),
            },
            auto_disable_after,
        }
    }

    fn outcome(sub: Uuid, succeeded: bool, done: i64, retry_in: Option<i64>) -> DeliveryOutcome {
        let application_id = Uuid::from_u128(1);
        DeliveryOutcome {
            attempt: AttemptRef {
                attempt_id: Uuid::now_v7(),
                application_id,
                event_id: Uuid::now_v7(),
                subscription_id: sub,
                retry_count: 2,
            },
            succeeded,
            completed_at: at(done),
            response: Response {
                id: Uuid::now_v7(),
                application_id,
                error_name: None,
                http_code: Some(if succeeded { 200 } else { 500 }),
                headers: None,
                body: None,
                elapsed_time_ms: 5,
            },
            retry_at: retry_in.map(|s| at(done + s)),
        }
    }

    fn kinds(plan: &OutcomePlan) -> Vec<&'static str> {
        plan.writes
            .iter()
            .map(|w| match w {
                Write::HoldPending { .. } => "hold",
                Write::ReleaseHeld { .. } => "release_held",
                Write::AutoDisable { .. } => "auto_disable",
                Write::Retry { .. } => "retry",
                Write::DeadLetter { .. } => "dead_letter",
                Write::AdvanceKey { .. } => "advance_key",
                Write::HoldKey { .. } => "hold_key",
            })
            .collect()
    }

    /// Each row: the outcomes of one subscription (succeeded, retry in seconds), its circuit
    /// as read, the policy; the writes, whether it releases parked attempts, whether its
    /// circuit is saved.
    #[test]
    fn the_rules_as_a_table() {
        let open = Circuit {
            state: CircuitState::Open,
            since: Some(at(-30)),
            consecutive_failures: 3,
            open_until: Some(at(30)),
            trips: 1,
            failing_since: Some(at(-100)),
        };
        let failing_long = Circuit {
            consecutive_failures: 5,
            failing_since: Some(at(-7200)),
            ..Circuit::default()
        };
        type Row = (
            &'static str,
            Vec<(bool, Option<i64>)>,
            Circuit,
            OutcomePolicy,
            Vec<&'static str>,
            bool,
            bool,
        );
        let rows: Vec<Row> = vec![
            (
                "a success on a healthy subscription writes nothing but a release",
                vec![(true, None)],
                Circuit::default(),
                policy(3, None),
                vec![],
                true,
                false,
            ),
            (
                "a failure with a retry left schedules it",
                vec![(false, Some(30))],
                Circuit::default(),
                policy(3, None),
                vec!["retry"],
                true,
                true,
            ),
            (
                "a failure with no retry left is a dead letter",
                vec![(false, None)],
                Circuit::default(),
                policy(3, None),
                vec!["dead_letter"],
                true,
                true,
            ),
            (
                "the threshold's failure opens the circuit, holding before its retry",
                vec![(false, Some(5)), (false, Some(5)), (false, Some(5))],
                Circuit::default(),
                policy(3, None),
                vec!["retry", "retry", "hold", "retry"],
                false,
                true,
            ),
            (
                "a success closes an open circuit and lets parked attempts go",
                vec![(true, None)],
                open.clone(),
                policy(3, None),
                vec!["release_held"],
                true,
                true,
            ),
            (
                "failing for longer than allowed opens and disables: a dead letter, not a retry",
                vec![(false, Some(5))],
                failing_long,
                policy(3, Some(Duration::from_secs(3600))),
                vec!["hold", "auto_disable", "dead_letter"],
                false,
                true,
            ),
        ];
        for (name, outcomes, circuit, policy, writes, releases, saved) in rows {
            let sub = Uuid::now_v7();
            let outcomes: Vec<DeliveryOutcome> = outcomes
                .iter()
                .enumerate()
                .map(|(i, (ok, retry))| outcome(sub, *ok, i as i64, *retry))
                .collect();
            let refs: Vec<&DeliveryOutcome> = outcomes.iter().collect();
            let plan = plan(
                &refs,
                &HashMap::from([(sub, circuit)]),
                &HashMap::new(),
                &policy,
            );
            assert_eq!(kinds(&plan), writes, "{name}");
            assert_eq!(
                plan.releases == vec![(sub, outcomes.len())],
                releases,
                "{name}"
            );
            assert_eq!(plan.circuits.len() == 1, saved, "{name}");
        }
    }

    /// Each row: one outcome (succeeded, retry in seconds) of an attempt in a key's line, the
    /// subscription's dead-letter policy; the writes.
    #[test]
    fn the_ordering_rules_as_a_table() {
        type Row = (
            &'static str,
            bool,
            Option<i64>,
            OnDeadLetter,
            Vec<&'static str>,
        );
        let rows: Vec<Row> = vec![
            (
                "a success lets the next of the key go",
                true,
                None,
                OnDeadLetter::Hold,
                vec!["advance_key"],
            ),
            (
                "a retry keeps the key's place: nothing moves",
                false,
                Some(5),
                OnDeadLetter::Hold,
                vec!["retry"],
            ),
            (
                "a dead letter holds the key under `hold`",
                false,
                None,
                OnDeadLetter::Hold,
                vec!["dead_letter", "hold_key"],
            ),
            (
                "a dead letter lets the next go under `continue`",
                false,
                None,
                OnDeadLetter::Continue,
                vec!["dead_letter", "advance_key"],
            ),
        ];
        for (name, ok, retry, on_dead_letter, writes) in rows {
            let sub = Uuid::now_v7();
            let o = outcome(sub, ok, 0, retry);
            let keyed = HashMap::from([(
                o.attempt.attempt_id,
                Keyed {
                    key: "inv_1".into(),
                    on_dead_letter,
                },
            )]);
            let plan = plan(&[&o], &HashMap::new(), &keyed, &policy(3, None));
            assert_eq!(kinds(&plan), writes, "{name}");
        }
        // Auto-disabled: the line failed with the subscription, the key is left alone.
        let sub = Uuid::now_v7();
        let o = outcome(sub, false, 0, Some(5));
        let keyed = HashMap::from([(
            o.attempt.attempt_id,
            Keyed {
                key: "inv_1".into(),
                on_dead_letter: OnDeadLetter::Hold,
            },
        )]);
        let failing_long = Circuit {
            consecutive_failures: 5,
            failing_since: Some(at(-7200)),
            ..Circuit::default()
        };
        let plan = plan(
            &[&o],
            &HashMap::from([(sub, failing_long)]),
            &keyed,
            &policy(3, Some(Duration::from_secs(3600))),
        );
        assert_eq!(kinds(&plan), ["hold", "auto_disable", "dead_letter"]);
    }

    #[test]
    fn a_retry_is_due_at_its_time_or_when_the_open_circuit_lets_it_through() {
        let sub = Uuid::now_v7();
        let refs_of = |o: &[DeliveryOutcome]| -> Vec<DeliveryOutcome> { o.to_vec() };
        // Closed: due at the retry time, one more retry counted by the backend.
        let one = refs_of(&[outcome(sub, false, 0, Some(30))]);
        let plan1 = plan(
            &one.iter().collect::<Vec<_>>(),
            &HashMap::new(),
            &HashMap::new(),
            &policy(3, None),
        );
        let Write::Retry {
            due_at,
            delay_until,
            created_at,
            attempt,
        } = &plan1.writes[0]
        else {
            panic!("{plan1:?}")
        };
        assert_eq!(
            (*due_at, *delay_until, *created_at),
            (at(30), at(30), at(0))
        );
        assert_eq!(attempt.retry_count, 2, "the backend writes retry_count + 1");
        // Opened by this failure (cool-down 60 s): due when the cool-down ends, not before.
        let opening = refs_of(&[outcome(sub, false, 0, Some(5))]);
        let plan2 = plan(
            &opening.iter().collect::<Vec<_>>(),
            &HashMap::new(),
            &HashMap::new(),
            &policy(1, None),
        );
        assert_eq!(kinds(&plan2), ["hold", "retry"]);
        let Write::Retry {
            due_at,
            delay_until,
            ..
        } = &plan2.writes[1]
        else {
            panic!()
        };
        assert_eq!(*delay_until, at(5));
        assert_eq!(*due_at, at(0) + TimeDelta::seconds(60));
        // A retry later than the cool-down keeps its own time.
        let late = refs_of(&[outcome(sub, false, 0, Some(600))]);
        let plan3 = plan(
            &late.iter().collect::<Vec<_>>(),
            &HashMap::new(),
            &HashMap::new(),
            &policy(1, None),
        );
        let Write::Retry { due_at, .. } = &plan3.writes[1] else {
            panic!()
        };
        assert_eq!(*due_at, at(600));
    }

    #[test]
    fn subscriptions_move_independently() {
        let (a, b) = (Uuid::from_u128(10), Uuid::from_u128(20));
        let outcomes = [
            outcome(a, false, 0, Some(5)),
            outcome(b, true, 1, None),
            outcome(a, false, 2, Some(5)),
        ];
        let plan = plan(
            &outcomes.iter().collect::<Vec<_>>(),
            &HashMap::new(),
            &HashMap::new(),
            &policy(2, None),
        );
        assert_eq!(kinds(&plan), ["retry", "hold", "retry"]);
        assert_eq!(
            plan.releases,
            [(b, 1)],
            "a's circuit is open: its parked attempts stay"
        );
        assert_eq!(
            plan.circuits.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [a]
        );
    }
}
