//! The one HTTP client a worker sends every delivery with. Sharing it keeps keep-alive
//! connections to each target host in a pool, so a busy endpoint does not pay a TCP and TLS
//! handshake per delivery (upstream builds a client per attempt).

use std::sync::Arc;

use reqwest::redirect::Policy;

use crate::config::WorkerConfig;
use crate::ssrf_resolver::SsrfResolver;

/// `User-Agent` of every delivery, as upstream sends it.
pub const USER_AGENT: &str = concat!("hook0-output-worker/", env!("CARGO_PKG_VERSION"));

/// Builds the worker's client: no redirects (a 3xx is a failed delivery), connect and total
/// timeouts, no proxy (a proxy would resolve the target where our SSRF guard cannot see it),
/// and our resolver (the SSRF guard unless the IP check is disabled, and the DNS_* settings).
pub fn build_client(config: &WorkerConfig) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .user_agent(USER_AGENT)
        .no_proxy()
        .pool_max_idle_per_host(64);
    // Our resolver even without the IP check: the DNS_* settings hold either way.
    builder
        .dns_resolver(Arc::new(SsrfResolver::new(config.dns_settings())))
        .build()
}
