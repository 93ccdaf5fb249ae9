//! When to send a request again: a few attempts, exponential backoff up to a ceiling, and a
//! total delay budget that an integer `Retry-After` from the server may use but not exceed.

use std::time::Duration;

use crate::Error;

/// The defaults match upstream's SDKs: 4 attempts, 100 ms doubling to 2 s, 5 s in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub ceiling: Duration,
    /// The most time spent waiting between attempts, all waits together.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            initial_backoff: Duration::from_millis(100),
            ceiling: Duration::from_secs(2),
            budget: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retry: one attempt.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// How long to wait before attempt `attempt + 1` after `error`, having waited `waited` so
    /// far; `None` when the error is final or the attempts or the budget are spent.
    pub fn delay(&self, attempt: u32, waited: Duration, error: &Error) -> Option<Duration> {
        if attempt >= self.attempts || !error.is_retryable() {
            return None;
        }
        let remaining = self.budget.checked_sub(waited)?;
        let backoff = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.ceiling);
        let wait = match error {
            Error::Api {
                retry_after: Some(after),
                ..
            } => *after,
            _ => backoff,
        };
        (wait <= remaining).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Problem;

    fn answer(status: u16, id: &str, retry_after: Option<u64>) -> Error {
        Error::Api {
            status,
            problem: Box::new(Problem {
                type_url: String::new(),
                status,
                title: String::new(),
                detail: String::new(),
                id: id.into(),
                validation: None,
            }),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn no_answer() -> Error {
        Error::Transport {
            url: "http://127.0.0.1:9".into(),
            message: "refused".into(),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling_and_stops_after_the_attempts() {
        let p = RetryPolicy {
            attempts: 6,
            ..RetryPolicy::default()
        };
        let waits: Vec<_> = (1..=6)
            .map(|n| p.delay(n, Duration::ZERO, &no_answer()))
            .collect();
        assert_eq!(
            waits,
            [
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                Some(Duration::from_millis(800)),
                Some(Duration::from_millis(1600)),
                None
            ]
        );
        let capped = RetryPolicy {
            attempts: 10,
            ..RetryPolicy::default()
        };
        assert_eq!(
            capped.delay(8, Duration::ZERO, &no_answer()),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_budget_only() {
        let p = RetryPolicy::default();
        let limited = answer(429, "RateLimited", Some(2));
        assert_eq!(
            p.delay(1, Duration::ZERO, &limited),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.delay(1, Duration::from_secs(3), &limited),
            Some(Duration::from_secs(2)),
            "exactly the remaining budget"
        );
        assert_eq!(p.delay(1, Duration::from_millis(3001), &limited), None);
        assert_eq!(
            p.delay(
                1,
                Duration::ZERO,
                &answer(503, "ServiceUnavailable", Some(0))
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            p.delay(1, Duration::ZERO, &answer(429, "RateLimited", Some(60))),
            None
        );
    }

    #[test]
    fn final_answers_are_not_retried() {
        let p = RetryPolicy::default();
        for (status, id) in [
            (400, "EventTypeDoesNotExist"),
            (401, "AuthInvalidApplicationSecret"),
            (403, "Forbidden"),
            (404, "NotFound"),
            (409, "EventAlreadyIngested"),
            (410, "RegistrationDisabled"),
            (422, "Validation"),
        ] {
            assert_eq!(
                p.delay(1, Duration::ZERO, &answer(status, id, None)),
                None,
                "{id}"
            );
        }
        assert_eq!(
            RetryPolicy::none().delay(1, Duration::ZERO, &no_answer()),
            None
        );
    }
}
