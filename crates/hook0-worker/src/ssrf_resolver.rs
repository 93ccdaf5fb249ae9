//! The SSRF guard on the wire. Targets are chosen by customers, so before connecting the worker
//! resolves the host itself, refuses it when **any** address is forbidden
//! ([`hook0_core::ssrf`]), and hands only the vetted addresses to the HTTP client: the connection
//! is pinned to what was checked, so a second, rebinding DNS answer cannot slip in.
//!
//! reqwest does not call a resolver for IP-literal URLs, so [`check_ip_literal`] covers those
//! before a request is sent. The errors are typed so that delivery can tell a refused target
//! (`E_INVALID_TARGET`) from a failing resolver (`E_DNS`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why a target host could not be turned into addresses we may connect to.
#[derive(Clone, Debug, thiserror::Error)]
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
                hook0_core::delivery::E_INVALID_TARGET
            }
            Self::Timeout { .. } | Self::Failed { .. } => hook0_core::delivery::E_DNS,
        }
    }

    /// A definite answer about the name, worth remembering (unlike a timeout or a failure).
    fn is_definite(&self) -> bool {
        matches!(
            self,
            Self::Forbidden { .. } | Self::NoAddress { .. } | Self::NotFound { .. }
        )
    }
}

/// Which address families deliveries connect to (`DNS_IP_STRATEGY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IpStrategy {
    /// Every address, in the resolver's order.
    #[default]
    Ipv4AndIpv6,
    Ipv4Only,
    Ipv6Only,
    /// IPv4 addresses when the name has any, else IPv6.
    Ipv4ThenIpv6,
    /// IPv6 addresses when the name has any, else IPv4.
    Ipv6ThenIpv4,
}

impl IpStrategy {
    pub const NAMES: [&'static str; 5] = [
        "ipv4-and-ipv6",
        "ipv4-only",
        "ipv6-only",
        "ipv4-then-ipv6",
        "ipv6-then-ipv4",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        Some(match name.as_str() {
            "ipv4-and-ipv6" => Self::Ipv4AndIpv6,
            "ipv4-only" => Self::Ipv4Only,
            "ipv6-only" => Self::Ipv6Only,
            "ipv4-then-ipv6" => Self::Ipv4ThenIpv6,
            "ipv6-then-ipv4" => Self::Ipv6ThenIpv4,
            _ => return None,
        })
    }

    fn pick(self, addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
        let (v4, v6): (Vec<_>, Vec<_>) = addrs.iter().partition(|a| a.is_ipv4());
        match self {
            Self::Ipv4AndIpv6 => addrs,
            Self::Ipv4Only => v4,
            Self::Ipv6Only => v6,
            Self::Ipv4ThenIpv6 if !v4.is_empty() => v4,
            Self::Ipv4ThenIpv6 => v6,
            Self::Ipv6ThenIpv4 if !v6.is_empty() => v6,
            Self::Ipv6ThenIpv4 => v4,
        }
    }
}

/// How deliveries resolve target names (upstream's `DNS_*` settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSettings {
    /// Longest one resolution may take (`DNS_TIMEOUT`); past it the attempt fails with `E_DNS`.
    pub timeout: Duration,
    /// How long an answer is reused (`DNS_CACHE_MAX_TTL`; zero: never). The system resolver
    /// does not tell record TTLs, so an answer is kept this long.
    pub cache_max_ttl: Duration,
    /// How long "no such name" (or a refused address) is reused (`DNS_NEGATIVE_CACHE_MAX_TTL`).
    pub negative_cache_max_ttl: Duration,
    pub ip_strategy: IpStrategy,
    /// Let the system append its search domains to names (`DNS_APPEND_SEARCH_DOMAINS`); by
    /// default a target name is taken as fully qualified.
    pub append_search_domains: bool,
    /// Refuse forbidden addresses (the SSRF guard); off only with `DISABLE_TARGET_IP_CHECK`.
    pub check_ip: bool,
}

impl Default for DnsSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            cache_max_ttl: Duration::from_secs(300),
            negative_cache_max_ttl: Duration::from_secs(30),
            ip_strategy: IpStrategy::default(),
            append_search_domains: false,
            check_ip: true,
        }
    }
}

/// Most names remembered; past it, expired answers go first, then all of them.
const CACHE_CAPACITY: usize = 10_000;

type Answer = Result<Vec<SocketAddr>, ResolveError>;

/// Resolves with the system resolver, keeps only the addresses the strategy allows, refuses
/// forbidden ones, and remembers definite answers for a while.
#[derive(Clone, Debug)]
pub struct SsrfResolver {
    settings: Arc<DnsSettings>,
    cache: Arc<Mutex<HashMap<String, (Instant, Answer)>>>,
}

impl SsrfResolver {
    pub fn new(settings: DnsSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            cache: Arc::default(),
        }
    }

    /// The addresses to connect to for `host`, from the cache when it still holds an answer.
    pub async fn resolve_host(&self, host: &str) -> Answer {
        let key = host.to_ascii_lowercase();
        if let Some((expires, answer)) = self.cache.lock().expect("dns cache").get(&key) {
            if *expires > Instant::now() {
                return answer.clone();
            }
        }
        let answer = self.look_up(host.to_owned()).await;
        let keep_for = match &answer {
            Ok(_) => self.settings.cache_max_ttl,
            Err(e) if e.is_definite() => self.settings.negative_cache_max_ttl,
            Err(_) => Duration::ZERO,
        };
        if !keep_for.is_zero() {
            let mut cache = self.cache.lock().expect("dns cache");
            if cache.len() >= CACHE_CAPACITY {
                let now = Instant::now();
                cache.retain(|_, (expires, _)| *expires > now);
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(key, (Instant::now() + keep_for, answer.clone()));
        }
        answer
    }

    async fn look_up(&self, host: String) -> Answer {
        // A trailing dot makes the name fully qualified: no search domain is tried. Names of
        // the hosts file are left alone, since that file is not searched for `name.`.
        let name =
            if self.settings.append_search_domains || host.ends_with('.') || in_hosts_file(&host) {
                host.clone()
            } else {
                format!("{host}.")
            };
        // Port 0: reqwest replaces it with the URL's port.
        let lookup = async {
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            io::Result::Ok(addrs.collect::<Vec<SocketAddr>>())
        };
        let looked_up = tokio::time::timeout(self.settings.timeout, lookup).await;
        let addrs = match looked_up {
            Err(_) => return Err(ResolveError::Timeout { host }),
            Ok(Err(e)) if is_nxdomain(&e) => return Err(ResolveError::NotFound { host }),
            Ok(Err(e)) => {
                return Err(ResolveError::Failed {
                    host,
                    reason: e.to_string(),
                })
            }
            Ok(Ok(addrs)) => self.settings.ip_strategy.pick(addrs),
        };
        if addrs.is_empty() {
            return Err(ResolveError::NoAddress { host });
        }
        if self.settings.check_ip {
            if let Some(bad) = addrs
                .iter()
                .find(|a| hook0_core::ssrf::is_forbidden(a.ip()))
            {
                return Err(ResolveError::Forbidden {
                    host,
                    addr: bad.ip(),
                });
            }
        }
        Ok(addrs)
    }
}

impl Resolve for SsrfResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let addrs = resolver.resolve_host(name.as_str()).await?;
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

/// Whether `/etc/hosts` names `host` (read each time: the file is small, and answers are
/// cached above).
fn in_hosts_file(host: &str) -> bool {
    std::fs::read_to_string("/etc/hosts").is_ok_and(|hosts| {
        hosts.lines().any(|line| {
            line.split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .skip(1)
                .any(|name| name.eq_ignore_ascii_case(host))
        })
    })
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
        let resolver = SsrfResolver::new(DnsSettings::default());
        let err = resolver.resolve_host("localhost").await.unwrap_err();
        assert!(matches!(err, ResolveError::Forbidden { .. }), "{err}");
        assert_eq!(err.error_name(), "E_INVALID_TARGET");
    }

    #[tokio::test]
    async fn without_the_ip_check_loopback_names_resolve_within_the_strategy() {
        let settings = |ip_strategy| DnsSettings {
            check_ip: false,
            ip_strategy,
            ..DnsSettings::default()
        };
        let v4 = SsrfResolver::new(settings(IpStrategy::Ipv4Only))
            .resolve_host("localhost")
            .await
            .unwrap();
        assert!(!v4.is_empty() && v4.iter().all(|a| a.is_ipv4()), "{v4:?}");
        let v6_first = SsrfResolver::new(settings(IpStrategy::Ipv6ThenIpv4))
            .resolve_host("localhost")
            .await
            .unwrap();
        assert!(
            !v6_first.is_empty(),
            "a name with addresses always gets some"
        );
    }

    #[test]
    fn strategies_pick_families() {
        let a: SocketAddr = "192.0.2.1:0".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:0".parse().unwrap();
        assert_eq!(IpStrategy::Ipv4AndIpv6.pick(vec![a, b]), vec![a, b]);
        assert_eq!(IpStrategy::Ipv6Only.pick(vec![a, b]), vec![b]);
        assert_eq!(IpStrategy::Ipv4ThenIpv6.pick(vec![b]), vec![b]);
        assert_eq!(IpStrategy::Ipv6ThenIpv4.pick(vec![a, b]), vec![b]);
        assert_eq!(IpStrategy::parse("IPV4_ONLY"), Some(IpStrategy::Ipv4Only));
        assert_eq!(IpStrategy::parse("both"), None);
    }

    #[tokio::test]
    async fn definite_answers_are_remembered_and_failures_are_not() {
        let resolver = SsrfResolver::new(DnsSettings {
            negative_cache_max_ttl: Duration::from_secs(60),
            ..DnsSettings::default()
        });
        let first = resolver.resolve_host("localhost").await.unwrap_err();
        assert!(matches!(first, ResolveError::Forbidden { .. }));
        assert_eq!(resolver.cache.lock().unwrap().len(), 1);
        // The cached refusal is what a second resolution answers.
        let cached = resolver.resolve_host("LOCALHOST").await.unwrap_err();
        assert!(matches!(cached, ResolveError::Forbidden { .. }));

        let no_cache = SsrfResolver::new(DnsSettings {
            negative_cache_max_ttl: Duration::ZERO,
            ..DnsSettings::default()
        });
        no_cache.resolve_host("localhost").await.unwrap_err();
        assert!(no_cache.cache.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_tiny_timeout_is_a_dns_failure() {
        let resolver = SsrfResolver::new(DnsSettings {
            timeout: Duration::from_nanos(1),
            ..DnsSettings::default()
        });
        // A name that is not in /etc/hosts goes to the network: it cannot answer in 1 ns.
        match resolver.resolve_host("hook0-test.invalid").await {
            Err(e @ ResolveError::Timeout { .. }) => assert_eq!(e.error_name(), "E_DNS"),
            Err(ResolveError::NotFound { .. }) => {} // answered synchronously from a local stub
            other => panic!("{other:?}"),
        }
    }
}
