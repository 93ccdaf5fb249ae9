//! The answers of `application_scope` and `application_by_secret`, kept for [`KEPT_FOR`]: every
//! API request authorizes against one of them, so without this each ingest cost a round trip
//! (and a PostgreSQL transaction) before its own. Only live answers are kept. A delete in this
//! process forgets them at once; one in another process is seen within [`KEPT_FOR`], the
//! bound on how long a deleted application or a revoked secret can still be used.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::ApplicationScope;

/// How long an answer is trusted.
pub(super) const KEPT_FOR: Duration = Duration::from_secs(1);
/// Entries kept at most; reaching it starts the map afresh (a bound on memory, not a tuning
/// knob: the answers are re-read at the next request).
const CAPACITY: usize = 10_000;

/// Live scopes by key (an application id, or a secret), with when they were read.
pub(super) struct Scopes<K> {
    entries: Mutex<HashMap<K, (ApplicationScope, Instant)>>,
}

impl<K: Eq + Hash + Copy> Scopes<K> {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The scope read for `key` less than [`KEPT_FOR`] ago.
    pub fn get(&self, key: &K) -> Option<ApplicationScope> {
        let entries = self.entries.lock().unwrap();
        let (scope, read_at) = entries.get(key)?;
        (read_at.elapsed() < KEPT_FOR).then_some(*scope)
    }

    pub fn keep(&self, key: K, scope: ApplicationScope) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (scope, Instant::now()));
    }

    pub fn forget(&self, key: &K) {
        self.entries.lock().unwrap().remove(key);
    }

    /// Forgets every scope of `application_id` (its secrets' included).
    pub fn forget_application(&self, application_id: Uuid) {
        let mut entries = self.entries.lock().unwrap();
        entries.retain(|_, (scope, _)| scope.application_id != application_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(application_id: Uuid) -> ApplicationScope {
        ApplicationScope {
            application_id,
            organization_id: Uuid::nil(),
        }
    }

    #[test]
    fn kept_answers_are_forgotten_by_key_and_by_application() {
        let scopes = Scopes::new();
        let (app, other) = (Uuid::new_v4(), Uuid::new_v4());
        let (secret, other_secret) = (Uuid::new_v4(), Uuid::new_v4());
        scopes.keep(secret, scope(app));
        scopes.keep(other_secret, scope(other));
        assert_eq!(scopes.get(&secret), Some(scope(app)));
        scopes.forget_application(app);
        assert_eq!(scopes.get(&secret), None);
        assert_eq!(scopes.get(&other_secret), Some(scope(other)));
        scopes.forget(&other_secret);
        assert_eq!(scopes.get(&other_secret), None);
    }

    #[test]
    fn the_map_never_grows_past_its_capacity() {
        let scopes = Scopes::new();
        for _ in 0..CAPACITY + 10 {
            scopes.keep(Uuid::new_v4(), scope(Uuid::new_v4()));
        }
        assert!(scopes.entries.lock().unwrap().len() <= CAPACITY);
    }
}
