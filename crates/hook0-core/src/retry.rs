//! When a failed delivery is tried again. Upstream uses a fixed schedule indexed by the failed
//! attempt's `retry_count`, plus a small additive jitter so that a burst of failures does not
//! come back as a burst of retries. Kept pure (the caller supplies randomness and the clock) so a
//! ten-hour schedule is tested in microseconds.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};

/// The longest `Retry-After` we honour: a receiver cannot push a retry further than this.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(10 * 3600);

/// Smallest jitter spread when jitter is enabled.
const MIN_JITTER_SPREAD: Duration = Duration::from_secs(2);

/// The retry schedule and its limits (`MAX_RETRIES`, `RETRY_JITTER_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// No retry is scheduled for a failed attempt whose `retry_count` reaches this.
    pub max_retries: u32,
    /// Jitter spread as a fraction of the base delay; 0 disables jitter.
    pub jitter_ratio: f64,
    /// Upper bound of the jitter spread; zero disables jitter.
    pub jitter_max_spread: Duration,
    /// Base delay by `retry_count`; the last entry repeats for higher counts.
    pub schedule: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// Upstream's schedule: 3 s, 10 s, 3 min, 30 min, 1 h, 3 h, 5 h, then 10 h; 24 retries.
    fn default() -> Self {
        let secs = Duration::from_secs;
        Self {
            max_retries: 24,
            jitter_ratio: 0.1,
            jitter_max_spread: secs(15 * 60),
            schedule: vec![
                secs(3),
                secs(10),
                secs(3 * 60),
                secs(30 * 60),
                secs(3600),
                secs(3 * 3600),
                secs(5 * 3600),
                secs(10 * 3600),
            ],
        }
    }
}

impl RetryPolicy {
    /// Delay before retrying an attempt that failed with this `retry_count`, without jitter;
    /// `None` when retries are exhausted. An empty schedule retries immediately.
    pub fn base_delay(&self, retry_count: u32) -> Option<Duration> {
        if retry_count >= self.max_retries {
            return None;
        }
        let index = (retry_count as usize).min(self.schedule.len().saturating_sub(1));
        Some(self.schedule.get(index).copied().unwrap_or(Duration::ZERO))
    }

    /// `base + rng_unit × clamp(ratio × base, 2 s, max spread)`, with `rng_unit` in `[0, 1)`.
    /// Jitter is only ever added. A ratio or spread of zero makes the delay deterministic.
    pub fn delay(&self, retry_count: u32, rng_unit: f64) -> Option<Duration> {
        let base = self.base_delay(retry_count)?;
        let ratio = if self.jitter_ratio.is_finite() {
            self.jitter_ratio
        } else {
            0.0
        };
        if ratio <= 0.0 || self.jitter_max_spread.is_zero() {
            return Some(base);
        }
        let proportional = Duration::try_from_secs_f64(base.as_secs_f64() * ratio)
            .unwrap_or(self.jitter_max_spread);
        let spread = proportional
            .max(MIN_JITTER_SPREAD)
            .min(self.jitter_max_spread);
        let unit = if rng_unit.is_finite() {
            rng_unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Some(base + spread.mul_f64(unit))
    }

    /// [`RetryPolicy::delay`] with a fresh random draw.
    pub fn delay_random(&self, retry_count: u32) -> Option<Duration> {
        self.delay(retry_count, rand::random::<f64>())
    }
}

/// Reads a `Retry-After` value: whole seconds or an HTTP-date, capped at [`RETRY_AFTER_CAP`].
/// A date in the past yields zero; anything unreadable yields `None`.
///
/// Callers honour it on **429 responses only**, as a lower bound:
/// `max(retry_after, policy.delay(..))`. It never changes the retry count or the retry budget.
pub fn retry_after(header_value: &str, now: SystemTime) -> Option<Duration> {
    let value = header_value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: a number too large for u64 is certainly over the cap.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP));
    }
    let at = parse_http_date(value)?;
    let now: DateTime<Utc> = now.into();
    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
    Some(wait.min(RETRY_AFTER_CAP))
}

/// The three HTTP-date forms of RFC 9110: IMF-fixdate, obsolete RFC 850 and asctime.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn upstream_schedule() {
        let policy = RetryPolicy::default();
        let expected = [3, 10, 180, 1800, 3600, 10800, 18000, 36000, 36000];
        for (count, want) in expected.into_iter().enumerate() {
            assert_eq!(policy.base_delay(count as u32), Some(secs(want)));
        }
        assert_eq!(policy.base_delay(23), Some(secs(36000)));
        assert_eq!(policy.base_delay(24), None);
        assert_eq!(policy.delay(24, 0.5), None);
    }

    #[test]
    fn jitter_is_additive_and_bounded() {
        let policy = RetryPolicy::default();
        // 3 s base: 10 % is 0.3 s, raised to the 2 s minimum.
        assert_eq!(policy.delay(0, 0.0), Some(secs(3)));
        assert_eq!(policy.delay(0, 0.5), Some(secs(4)));
        // 30 min base: 10 % = 3 min.
        assert_eq!(policy.delay(3, 0.5), Some(secs(1800 + 90)));
        // 10 h base: 10 % = 1 h, capped at 15 min.
        assert_eq!(policy.delay(7, 0.5), Some(secs(36000 + 450)));
        for count in 0..24 {
            let base = policy.base_delay(count).unwrap();
            let d = policy.delay_random(count).unwrap();
            assert!(d >= base && d < base + secs(15 * 60).max(secs(2)) + secs(1));
        }
    }

    #[test]
    fn no_jitter_when_disabled() {
        let mut policy = RetryPolicy {
            jitter_ratio: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.delay(2, 0.99), Some(secs(180)));
        policy.jitter_ratio = 0.1;
        policy.jitter_max_spread = Duration::ZERO;
        assert_eq!(policy.delay(2, 0.99), Some(secs(180)));
    }

    #[test]
    fn short_schedule_repeats_last_entry() {
        let policy = RetryPolicy {
            max_retries: 3,
            jitter_ratio: 0.0,
            schedule: vec![Duration::from_millis(10), Duration::from_millis(20)],
            ..RetryPolicy::default()
        };
        assert_eq!(policy.delay(0, 0.0), Some(Duration::from_millis(10)));
        assert_eq!(policy.delay(2, 0.0), Some(Duration::from_millis(20)));
        assert_eq!(policy.delay(3, 0.0), None);
    }

    #[test]
    fn retry_after_seconds_and_cap() {
        let now = SystemTime::now();
        assert_eq!(retry_after("120", now), Some(secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(secs(0)));
        assert_eq!(retry_after("999999", now), Some(RETRY_AFTER_CAP));
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(RETRY_AFTER_CAP)
        );
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("", now), None);
    }

    #[test]
    fn retry_after_http_dates() {
        // 1994-11-06T08:49:37Z
        let date = SystemTime::UNIX_EPOCH + secs(784_111_777);
        let now = date - secs(60);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(retry_after(form, now), Some(secs(60)), "{form}");
        }
        let past = date + secs(60);
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", past),
            Some(Duration::ZERO)
        );
        let long_before = date - secs(86_400);
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", long_before),
            Some(RETRY_AFTER_CAP)
        );
    }
}
