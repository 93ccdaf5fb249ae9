//! The seam between the delivery worker and a relay held by the same process (`hook0 listen`):
//! a delivery to one of the process's own relay URLs is handed over in memory, never sent over
//! the network (so the SSRF guard, which refuses loopback targets, does not stand in the way,
//! and no socket is spent).

use std::future::Future;
use std::pin::Pin;

/// A request as the relay passes it to the listener.
#[derive(Clone, Debug)]
pub struct RelayRequest {
    pub method: String,
    /// The path below the relay URL (`/` at least).
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the listener's local server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a relayed request got no answer from the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("no `hook0 listen` is connected for this relay URL")]
    NotConnected,
    #[error("the listener did not answer in time")]
    TimedOut,
    #[error("the listener disconnected before answering")]
    Disconnected,
    #[error("the relay is busy: too many requests for this listener")]
    Busy,
}

pub type RelayFuture = Pin<Box<dyn Future<Output = Result<RelayAnswer, RelayError>> + Send>>;

/// A relay the worker can hand deliveries to.
pub trait LocalRelay: Send + Sync {
    /// The relay token and the path below it, when `url` is one of this relay's URLs.
    fn route(&self, url: &url::Url) -> Option<(String, String)>;
    /// Passes `request` to the listener holding `token` and waits for its answer.
    fn forward(&self, token: String, request: RelayRequest) -> RelayFuture;
}
