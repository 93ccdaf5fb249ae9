//! The SSRF guard on the wire. Targets are chosen by customers, so before connecting the worker
//! resolves the host itself, refuses it when **any** address is forbidden
//! ([`hook0_core::ssrf`]), and hands only the vetted addresses to the HTTP client: the connection
//! is pinned to what was checked, so a second, rebinding DNS answer cannot slip in.
//!
//! reqwest does not call a resolver for IP-literal URLs, so [`check_ip_literal`] covers those
//! before a request is sent. The errors are typed so that delivery can tell a refused target
//! (`E_INVALID_TARGET`) from a failing resolver (`E_DNS`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why a target host could not be turned into addresses we may connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("target {host} resolves to forbidden address {addr}")]
    Forbidden { host: String, addr: IpAddr },
    #[error("target {host} has no address")]
    NoAddress { host: String },
    #[error("target {host} does not exist (NXDOMAIN)")]
    NotFound { host: String },
    #[error("DNS resolution of {host} timed out")]
    Timeout { host: String },
    #[error("DNS resolution of {host} failed: {reason}")]
    Failed { host: String, reason: String },
}

impl ResolveError {
    /// The response error name this failure is recorded under.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::Forbidden { .. } | Self::NoAddress { .. } | Self::NotFound { .. } => {
                crate::deliver::E_INVALID_TARGET
            }
            Self::Timeout { .. } | Self::Failed { .. } => crate::deliver::E_DNS,
        }
    }
}

/// Resolves with the system resolver and refuses forbidden addresses.
#[derive(Clone, Debug)]
pub struct SsrfResolver {
    timeout: Duration,
}

impl SsrfResolver {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    async fn resolve_host(
        host: String,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        // Port 0: reqwest replaces it with the URL's port.
        let lookup = async {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            io::Result::Ok(addrs.collect::<Vec<SocketAddr>>())
        };
        let looked_up = tokio::time::timeout(timeout, lookup).await;
        let addrs = match looked_up {
            Err(_) => return Err(ResolveError::Timeout { host }),
            Ok(Err(e)) if is_nxdomain(&e) => return Err(ResolveError::NotFound { host }),
            Ok(Err(e)) => {
                return Err(ResolveError::Failed {
                    host,
                    reason: e.to_string(),
                })
            }
            Ok(Ok(addrs)) => addrs,
        };
        if addrs.is_empty() {
            return Err(ResolveError::NoAddress { host });
        }
        if let Some(bad) = addrs
            .iter()
            .find(|a| hook0_core::ssrf::is_forbidden(a.ip()))
        {
            return Err(ResolveError::Forbidden {
                host,
                addr: bad.ip(),
            });
        }
        Ok(addrs)
    }
}

impl Resolve for SsrfResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let timeout = self.timeout;
        Box::pin(async move {
            let addrs = Self::resolve_host(host, timeout).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Refuses a URL whose host is a forbidden IP literal; names are left to the resolver.
pub fn check_ip_literal(url: &Url) -> Result<(), ResolveError> {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if hook0_core::ssrf::is_forbidden(ip) {
        Err(ResolveError::Forbidden {
            host: ip.to_string(),
            addr: ip,
        })
    } else {
        Ok(())
    }
}

/// `getaddrinfo` reports "this name does not exist" only through its message (std keeps no
/// code): glibc, musl and BSD wordings. Anything else is a resolver failure.
fn is_nxdomain(e: &io::Error) -> bool {
    let message = e.to_string().to_ascii_lowercase();
    [
        "name or service not known",
        "no address associated with hostname",
        "name does not resolve",
        "nodename nor servname provided",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_checked() {
        let refused = |u: &str| check_ip_literal(&Url::parse(u).unwrap()).is_err();
        assert!(refused("http://127.0.0.1:8080/"));
        assert!(refused("http://169.254.169.254/latest/meta-data"));
        assert!(refused("http://[::1]/"));
        assert!(!refused("http://93.184.215.14/"));
        assert!(!refused("http://localhost/"), "names go to the resolver");
    }

    #[test]
    fn nxdomain_is_told_from_resolver_failure() {
        let e = |m: &str| io::Error::other(format!("failed to lookup address information: {m}"));
        assert!(is_nxdomain(&e("Name or service not known")));
        assert!(is_nxdomain(&e("No address associated with hostname")));
        assert!(!is_nxdomain(&e("Temporary failure in name resolution")));
    }

    #[tokio::test]
    async fn loopback_names_are_refused() {
        let err = SsrfResolver::resolve_host("localhost".into(), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::Forbidden { .. }), "{err}");
        assert_eq!(err.error_name(), "E_INVALID_TARGET");
    }
}
