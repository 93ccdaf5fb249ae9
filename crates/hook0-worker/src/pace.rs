//! Which endpoints keep up, as this worker sees them, so that the claim may give a busy but
//! healthy subscription more than `MAX_IN_FLIGHT_PER_SUBSCRIPTION` deliveries in flight.
//!
//! One subscription's rate is its cap divided by the lease cycle (response time, outcome commit
//! and next claim): the cap that keeps a hanging endpoint from taking every slot also bounds a
//! fast one to a few thousand deliveries per second. So the cap rises to
//! `MAX_IN_FLIGHT_PER_FAST_SUBSCRIPTION` for a subscription whose last
//! `MAX_IN_FLIGHT_PER_SUBSCRIPTION` deliveries all succeeded within [`QUICK`], and falls back as
//! soon as one fails, takes longer, or is still running after [`QUICK`]. An endpoint that hangs
//! from the start never qualifies; one that was fast and starts hanging holds at most the higher
//! cap until its requests time out, and the slots all fast endpoints hold beyond the ordinary cap
//! stay under half of the worker's concurrency (see [`fast_subscriptions`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A delivery answered within this is quick; one running longer is slow.
pub(crate) const QUICK: Duration = Duration::from_millis(250);
/// A streak with no delivery for this long is forgotten: the endpoint has to prove itself again.
const FORGET_AFTER: Duration = Duration::from_secs(10);

/// Recent quick successes per subscription (only those with a streak going).
#[derive(Default)]
pub(crate) struct Pace {
    streaks: Mutex<HashMap<Uuid, Streak>>,
}

struct Streak {
    quick_successes: u32,
    last: Instant,
}

impl Pace {
    /// Records a finished delivery.
    pub(crate) fn record(&self, subscription_id: Uuid, succeeded: bool, took: Duration) {
        let mut streaks = self.streaks.lock().unwrap_or_else(|e| e.into_inner());
        if succeeded && took <= QUICK {
            let streak = streaks.entry(subscription_id).or_insert(Streak {
                quick_successes: 0,
                last: Instant::now(),
            });
            streak.quick_successes = streak.quick_successes.saturating_add(1);
            streak.last = Instant::now();
        } else {
            streaks.remove(&subscription_id);
        }
    }

    /// Subscriptions with at least `needed` quick successes in a row, recently, sorted.
    fn keeping_up(&self, needed: u32, now: Instant) -> Vec<Uuid> {
        let mut streaks = self.streaks.lock().unwrap_or_else(|e| e.into_inner());
        streaks.retain(|_, s| now.duration_since(s.last) < FORGET_AFTER);
        let mut fast: Vec<Uuid> = streaks
            .iter()
            .filter(|(_, s)| s.quick_successes >= needed)
            .map(|(id, _)| *id)
            .collect();
        fast.sort();
        fast
    }
}

/// One running delivery, as [`fast_subscriptions`] needs it.
pub(crate) struct Running {
    pub(crate) subscription_id: Uuid,
    pub(crate) started: Instant,
}

/// The subscriptions the next claim may give the higher cap: those keeping up, minus any with a
/// delivery running longer than [`QUICK`]; none while the slots held beyond the ordinary cap
/// (`cap`) reach half of `concurrency`.
pub(crate) fn fast_subscriptions<'a>(
    pace: &Pace,
    cap: u32,
    concurrency: usize,
    running: impl Iterator<Item = &'a Running>,
    now: Instant,
) -> Vec<Uuid> {
    let mut fast = pace.keeping_up(cap, now);
    if fast.is_empty() {
        return fast;
    }
    let mut per_subscription: HashMap<Uuid, (usize, bool)> = HashMap::new();
    for r in running {
        let entry = per_subscription.entry(r.subscription_id).or_default();
        entry.0 += 1;
        entry.1 |= now.duration_since(r.started) > QUICK;
    }
    let beyond_cap: usize = per_subscription
        .values()
        .map(|(n, _)| n.saturating_sub(cap as usize))
        .sum();
    if beyond_cap >= concurrency / 2 {
        return Vec::new();
    }
    fast.retain(|id| !per_subscription.get(id).is_some_and(|(_, slow)| *slow));
    fast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_streak_of_quick_successes_makes_a_subscription_fast_and_one_slip_ends_it() {
        let pace = Pace::default();
        let [a, b] = ids(2)[..] else { unreachable!() };
        let now = Instant::now();
        for _ in 0..3 {
            pace.record(a, true, Duration::from_millis(2));
            pace.record(b, true, Duration::from_millis(2));
        }
        assert_eq!(pace.keeping_up(3, now), [a, b]);
        assert!(pace.keeping_up(4, now).is_empty(), "not enough yet");
        pace.record(a, false, Duration::from_millis(2));
        pace.record(b, true, QUICK + Duration::from_millis(1));
        assert!(pace.keeping_up(1, now).is_empty(), "a failed, b was slow");
        pace.record(a, true, Duration::from_millis(2));
        assert_eq!(pace.keeping_up(1, now), [a], "a starts over");
        assert!(
            pace.keeping_up(1, Instant::now() + FORGET_AFTER).is_empty(),
            "an old streak is forgotten"
        );
    }

    #[test]
    fn a_delivery_running_long_or_too_many_slots_beyond_the_cap_withdraw_the_higher_cap() {
        let pace = Pace::default();
        let [a, b] = ids(2)[..] else { unreachable!() };
        for _ in 0..2 {
            pace.record(a, true, Duration::from_millis(2));
            pace.record(b, true, Duration::from_millis(2));
        }
        let now = Instant::now() + Duration::from_secs(1);
        let running = |sub, n, age: Duration| {
            (0..n).map(move |_| Running {
                subscription_id: sub,
                started: now - age,
            })
        };
        let young = Duration::from_millis(1);
        let all: Vec<Running> = running(a, 4, young).chain(running(b, 1, young)).collect();
        assert_eq!(fast_subscriptions(&pace, 2, 16, all.iter(), now), [a, b]);

        let all: Vec<Running> = running(a, 1, QUICK * 2)
            .chain(running(b, 1, young))
            .collect();
        assert_eq!(fast_subscriptions(&pace, 2, 16, all.iter(), now), [b]);

        // 6 + 2 slots beyond the cap of 2: half of 16.
        let all: Vec<Running> = running(a, 8, young).chain(running(b, 4, young)).collect();
        assert!(fast_subscriptions(&pace, 2, 16, all.iter(), now).is_empty());
    }
}
