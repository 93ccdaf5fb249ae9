//! Compiled event type schemas, kept between ingests. Ingest is the hot path: an event type's
//! schema is read from the store and compiled once, then reused. A change made through this
//! process forgets its entry at once; another process (several API processes on one
//! PostgreSQL) sees a change within [`FRESH_FOR`], when its entry is read again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hook0_core::schema::{self, CompiledSchema};
use hook0_store::Store;
use uuid::Uuid;

use crate::error::ApiResult;

/// How long an entry is trusted before the store is asked again.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// Entries kept at most; past it the cache starts over (it only ever saves reads).
const MAX_ENTRIES: usize = 10_000;

type Key = (Uuid, String);

/// The compiled schema of each event type recently ingested under (`None`: it has none).
#[derive(Default)]
pub struct SchemaCache {
    entries: Mutex<HashMap<Key, (Instant, Option<Arc<CompiledSchema>>)>>,
}

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaCache").finish_non_exhaustive()
    }
}

impl SchemaCache {
    /// The schema payloads of `event_type` must match, if any.
    pub async fn get(
        &self,
        store: &dyn Store,
        application_id: Uuid,
        event_type: &str,
    ) -> ApiResult<Option<Arc<CompiledSchema>>> {
        let key = (application_id, event_type.to_owned());
        if let Some((at, compiled)) = self.lock().get(&key) {
            if at.elapsed() < FRESH_FOR {
                return Ok(compiled.clone());
            }
        }
        let stored = store.get_event_type(application_id, event_type).await?;
        // A stored schema was checked when it was set; one that no longer compiles (a newer
        // validator) is not enforced rather than refusing every event of the type.
        let compiled = stored
            .and_then(|t| t.schema)
            .and_then(|s| match schema::compile(&s) {
                Ok(compiled) => Some(Arc::new(compiled)),
                Err(reason) => {
                    tracing::warn!(%application_id, event_type, %reason, "a stored event type schema does not compile; not enforced");
                    None
                }
            });
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), compiled.clone()));
        Ok(compiled)
    }

    /// Drops what is known of `event_type` (its schema just changed here).
    pub fn forget(&self, application_id: Uuid, event_type: &str) {
        self.lock().remove(&(application_id, event_type.to_owned()));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, Option<Arc<CompiledSchema>>)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
