//! Hook0's storage seam: one [`Store`] trait, implemented for the embedded SQLite file and for
//! PostgreSQL. The database is also the delivery queue: ingest writes an event and its request
//! attempts in one transaction, workers claim due attempts in batches under a lease, and
//! outcomes (response, success or failure, retry row) are written back in one transaction.

mod error;
pub mod fair_claim;
pub mod ordering;
pub mod outcome_plan;
pub mod postgres;
mod quota_check;
pub mod sqlite;
mod store;
pub mod transfer;
mod waiters;

pub use error::{StoreError, StoreResult};
pub use store::*;

use std::sync::Arc;

/// Opens the store named by `database_url`: `sqlite://path` (or a bare path) for the embedded
/// store, `postgres://…` for PostgreSQL.
pub async fn open(database_url: &str, options: &StoreOptions) -> StoreResult<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::open(database_url, options).await?,
        ))
    } else {
        let path = database_url
            .strip_prefix("sqlite://")
            .unwrap_or(database_url);
        Ok(Arc::new(sqlite::SqliteStore::open(path, options).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opening must be spawnable (`tokio::spawn` needs a `Send` future).
    #[allow(dead_code)]
    fn opening_is_send() {
        fn is_send<T: Send>(_: T) {}
        is_send(open("x", &StoreOptions::default()));
    }
}
