//! API rate limiting, as upstream: a global limit and a per-client-IP limit on every `/api/v1`
//! request, and a per-token limit once a request's token is known good (keyed by the Biscuit's
//! root revocation id, so a service token and its attenuations share one budget, or by the
//! application secret or master key). Each is a GCRA bucket (governor): a burst, refilled one
//! request per replenish period. Past it: 429 `RateLimited` with `Retry-After` and
//! `x-ratelimit-after` (seconds). Each layer can be turned off.
//!
//! Limits are per process, in memory. Keys idle long enough to be full again are dropped every
//! housekeeping period, on the request path (no background task).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, NotUntil, Quota};
use hook0_core::problem::ProblemId;

use crate::client_ip::ClientIp;
use crate::error::ApiError;

/// One bucket: `burst` requests at once, then one more every `replenish_period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub burst: u32,
    pub replenish_period: Duration,
}

impl Limit {
    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).expect("at least 1");
        Quota::with_period(self.replenish_period.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(burst)
    }
}

/// The three layers; `None` turns one off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimiting {
    pub global: Option<Limit>,
    pub ip: Option<Limit>,
    pub token: Option<Limit>,
    /// How often idle keys are dropped (`API_RATE_LIMITING_HOUSEKEEPING_PERIOD`).
    pub housekeeping_period: Duration,
}

impl RateLimiting {
    /// Upstream's defaults: global 2000 + 1/ms, per IP 200 + 1/10 ms, per token 20 + 1/100 ms.
    pub fn upstream() -> Self {
        Self {
            global: Some(Limit {
                burst: 2000,
                replenish_period: Duration::from_millis(1),
            }),
            ip: Some(Limit {
                burst: 200,
                replenish_period: Duration::from_millis(10),
            }),
            token: Some(Limit {
                burst: 20,
                replenish_period: Duration::from_millis(100),
            }),
            housekeeping_period: Duration::from_secs(300),
        }
    }

    /// No limit at all.
    pub fn off() -> Self {
        Self {
            global: None,
            ip: None,
            token: None,
            housekeeping_period: Duration::from_secs(300),
        }
    }
}

/// The limiters of one router.
pub struct Limiters {
    global: Option<DefaultDirectRateLimiter>,
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    token: Option<DefaultKeyedRateLimiter<Vec<u8>>>,
    housekeeping_period: Duration,
    last_housekeeping: Mutex<Instant>,
}

impl Limiters {
    pub fn new(settings: &RateLimiting) -> Arc<Self> {
        Arc::new(Self {
            global: settings
                .global
                .map(|l| DefaultDirectRateLimiter::direct(l.quota())),
            ip: settings
                .ip
                .map(|l| DefaultKeyedRateLimiter::hashmap(l.quota())),
            token: settings
                .token
                .map(|l| DefaultKeyedRateLimiter::hashmap(l.quota())),
            housekeeping_period: settings.housekeeping_period,
            last_housekeeping: Mutex::new(Instant::now()),
        })
    }

    pub fn is_off(&self) -> bool {
        self.global.is_none() && self.ip.is_none() && self.token.is_none()
    }

    /// The global and per-IP limits (`ip` is the client's, behind trusted proxies too; unknown
    /// when the server was not given the peer address, e.g. in-process tests).
    fn check_request(&self, ip: Option<IpAddr>) -> Result<(), Response> {
        self.housekeeping();
        if let Some(global) = &self.global {
            global.check().map_err(limited)?;
        }
        if let (Some(limiter), Some(ip)) = (&self.ip, ip) {
            limiter.check_key(&ip).map_err(limited)?;
        }
        Ok(())
    }

    /// The per-token limit.
    pub fn check_token(&self, key: Vec<u8>) -> Result<(), Response> {
        match &self.token {
            Some(limiter) => limiter.check_key(&key).map_err(limited),
            None => Ok(()),
        }
    }

    fn housekeeping(&self) {
        let Ok(mut last) = self.last_housekeeping.try_lock() else {
            return;
        };
        if last.elapsed() < self.housekeeping_period {
            return;
        }
        *last = Instant::now();
        drop(last);
        shrink(&self.ip);
        shrink(&self.token);
    }
}

fn shrink<K: Hash + Eq + Clone>(limiter: &Option<DefaultKeyedRateLimiter<K>>) {
    if let Some(limiter) = limiter {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

/// 429 `RateLimited`, telling when to come back (whole seconds, at least 1).
fn limited(not_until: NotUntil<<DefaultClock as Clock>::Instant>) -> Response {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut response = ApiError::new(ProblemId::RateLimited).into_response();
    let value = HeaderValue::from(seconds);
    let headers = response.headers_mut();
    headers.insert(axum::http::header::RETRY_AFTER, value.clone());
    headers.insert("x-ratelimit-after", value);
    response
}

/// Test events sent from the consumer portal, per subscription: a test is a real delivery a
/// customer can trigger at will, so each endpoint gets [`TEST_SENDS`] at once, then one more
/// every period. Per process, in memory, like the other limits; always on.
pub struct TestSends {
    limiter: DefaultKeyedRateLimiter<uuid::Uuid>,
}

/// A burst of 5 test events per subscription, then one every 10 s.
pub const TEST_SENDS: Limit = Limit {
    burst: 5,
    replenish_period: Duration::from_secs(10),
};

impl Default for TestSends {
    fn default() -> Self {
        Self {
            limiter: governor::RateLimiter::keyed(TEST_SENDS.quota()),
        }
    }
}

impl std::fmt::Debug for TestSends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSends").finish_non_exhaustive()
    }
}

impl TestSends {
    /// One more test event to `subscription_id`, or the 429 to answer.
    pub fn check(&self, subscription_id: uuid::Uuid) -> Result<(), Response> {
        self.limiter.retain_recent();
        self.limiter.check_key(&subscription_id).map_err(limited)
    }
}

/// The middleware of the global and per-IP limits; also hands the limiters to the
/// [`crate::auth::Principal`] extractor, which applies the per-token limit.
pub async fn limit(limiters: Arc<Limiters>, mut request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip);
    if let Err(refused) = limiters.check_request(ip) {
        return refused;
    }
    request.extensions_mut().insert(limiters);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits() {
        let settings = RateLimiting {
            token: Some(Limit {
                burst: 3,
                replenish_period: Duration::from_secs(10),
            }),
            ..RateLimiting::off()
        };
        let limiters = Limiters::new(&settings);
        for _ in 0..3 {
            assert!(limiters.check_token(b"a".to_vec()).is_ok());
        }
        let refused = limiters.check_token(b"a".to_vec()).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()["retry-after"], "10");
        assert_eq!(refused.headers()["x-ratelimit-after"], "10");
        // Another token has its own bucket.
        assert!(limiters.check_token(b"b".to_vec()).is_ok());
    }

    #[test]
    fn off_limits_nothing() {
        let limiters = Limiters::new(&RateLimiting::off());
        assert!(limiters.is_off());
        for _ in 0..10_000 {
            assert!(limiters
                .check_request(Some(IpAddr::from([127, 0, 0, 1])))
                .is_ok());
        }
    }
}
