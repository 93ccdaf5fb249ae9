//! The time the API reads when a decision depends on it (a portal session's expiry). In
//! production it is the system clock; a test holds a [`Clock::manual`] and moves it forward
//! instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The system clock plus an offset that only tests move.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system time; shared by every copy of this clock.
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock a test moves with [`Clock::advance`] (it still ticks with the system clock).
    pub fn manual() -> Self {
        Self::default()
    }

    /// Now, at the microsecond precision both databases keep.
    pub fn now(&self) -> DateTime<Utc> {
        crate::model::now()
            + chrono::Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_an_advance() {
        let clock = Clock::manual();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(Duration::from_secs(3600));
        assert!(copy.now() - before >= chrono::Duration::seconds(3600));
    }
}
