//! The storage seam: one trait per resource (tenants, subscriptions, events, the delivery queue,
//! identity, …), joined into [`Store`]. Each backend implements a resource's trait in the file
//! where that resource's SQL lives (`sqlite/tenants.rs`, `postgres/tenants.rs`, …), so a method's
//! signature is written once per backend.
//!
//! Anything that must be atomic (an event with its attempts, a disabled subscription with its
//! failed attempts, an outcome with its retry row) is one method, so each backend can make it
//! one transaction. Callers hold an `Arc<dyn Store>`, whose methods need no trait imported.

mod attempts;
mod events;
mod identity;
mod portal;
mod protection;
mod queue;
mod subscriptions;
mod tenants;

pub use attempts::*;
pub use events::*;
pub use identity::*;
pub use portal::*;
pub use protection::*;
pub use queue::*;
pub use subscriptions::*;
pub use tenants::*;

use async_trait::async_trait;

use crate::StoreResult;

/// Tuning knobs shared by the backends.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// Run migrations when opening.
    pub auto_migrate: bool,
    /// PostgreSQL `statement_timeout` for every query (`None`: the server's setting). A query
    /// cut short answers 503 with `Retry-After`.
    pub statement_timeout: Option<std::time::Duration>,
    /// PostgreSQL `lock_timeout` (`None`: the server's setting); a lock wait cut short is 503 too.
    pub lock_timeout: Option<std::time::Duration>,
    /// The time of the delivery queue (claims and their leases, outcomes, releases) and of
    /// retention: the system clock, or one a test moves instead of sleeping.
    pub clock: hook0_core::clock::Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            auto_migrate: true,
            statement_timeout: None,
            lock_timeout: None,
            clock: hook0_core::clock::Clock::system(),
        }
    }
}

/// Everything a backend offers, plus what is the backend's own (its name, its health).
#[async_trait]
pub trait Store:
    Tenants
    + Subscriptions
    + Events
    + Retention
    + Attempts
    + DeliveryQueue
    + Signing
    + DeadLetters
    + OperationalEvents
    + Users
    + Tokens
    + Portal
    + OrderedDelivery
    + Send
    + Sync
    + 'static
{
    /// Backend name for logs and `/health`: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A cheap round trip, for health checks.
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pool's usage, for backends that pool connections.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}
