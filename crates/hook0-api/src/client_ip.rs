//! The client's IP address: the TCP peer, unless the peer is a proxy we were told to trust.
//!
//! Behind a load balancer every connection comes from the balancer, so the per-IP rate limit
//! would throttle all clients together and every stored event would carry the balancer's
//! address. `REVERSE_PROXY_IPS` names the proxies (IPs or CIDRs) whose `Forwarded` /
//! `X-Forwarded-For` headers are believed; `BEHIND_CLOUDFLARE` believes `CF-Connecting-IP` from
//! Cloudflare's published ranges (and from the trusted proxies, for a balancer behind
//! Cloudflare). A header from any other peer is ignored, so a client cannot choose its own
//! address.
//!
//! The forwarded chain is read from the right: each trusted hop appended the address it saw,
//! so the first address that is not a trusted proxy is the client. Everything left of it was
//! written by the client and proves nothing.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// Cloudflare's published edge ranges (<https://www.cloudflare.com/ips/>).
const CLOUDFLARE_RANGES: [&str; 22] = [
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
];

/// Which peers may tell us the client's address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientIpConfig {
    /// `REVERSE_PROXY_IPS`: proxies whose `Forwarded` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `BEHIND_CLOUDFLARE`: believe `CF-Connecting-IP` from Cloudflare's ranges.
    pub behind_cloudflare: bool,
}

impl ClientIpConfig {
    /// Parses `REVERSE_PROXY_IPS`: a comma list of IPs and CIDRs.
    pub fn parse_proxies(list: &str) -> Result<Vec<IpNet>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{item}` is neither an IP address nor a CIDR range"))
            })
            .collect()
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    fn is_cloudflare(&self, ip: IpAddr) -> bool {
        self.behind_cloudflare
            && CLOUDFLARE_RANGES
                .iter()
                .filter_map(|r| r.parse::<IpNet>().ok())
                .any(|net| net.contains(&ip))
    }

    /// The client's address, given the TCP peer and the request's headers.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if self.behind_cloudflare && (self.is_cloudflare(peer) || self.is_trusted_proxy(peer)) {
            if let Some(ip) = header_ip(headers, "cf-connecting-ip") {
                return ip;
            }
        }
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        // `Forwarded` (RFC 7239) wins over the de-facto `X-Forwarded-For` when both are sent.
        let chain = forwarded_chain(headers).unwrap_or_else(|| x_forwarded_for_chain(headers));
        let mut client = peer;
        for hop in chain.into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip;
                    if !self.is_trusted_proxy(ip) {
                        break;
                    }
                }
                // An unreadable hop ends what we can believe: stop at the last trusted one.
                None => break,
            }
        }
        client
    }
}

/// An IPv4 peer seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn header_ip(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    let value = headers.get(name)?.to_str().ok()?;
    value.trim().parse().ok().map(canonical)
}

/// Addresses of every `X-Forwarded-For` header, in order (`None` for an unreadable entry).
fn x_forwarded_for_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|item| parse_node(item.trim()))
        .collect()
}

/// The `for=` of every `Forwarded` element, in order; `None` when no `Forwarded` header is sent.
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut values = headers
        .get_all(axum::http::header::FORWARDED)
        .iter()
        .peekable();
    values.peek()?;
    let mut chain = Vec::new();
    for value in values {
        let Ok(value) = value.to_str() else {
            chain.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, val) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| val.trim().trim_matches('"').to_string())
            });
            chain.push(node.and_then(|n| parse_node(&n)));
        }
    }
    Some(chain)
}

/// One node: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]` or `[2001:db8::1]:443`, or a bare IPv6.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let bracketed = node.strip_prefix('[')?.split(']').next()?;
    bracketed.parse::<IpAddr>().ok().map(canonical)
}

/// The client's address of a request (set by [`resolve_client_ip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Middleware: works out the client's address once per request, for the rate limits and the
/// handlers. Nothing is set when the server was not given peer addresses (in-process tests).
pub async fn resolve_client_ip(
    config: std::sync::Arc<ClientIpConfig>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = config.resolve(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn behind(proxies: &str) -> ClientIpConfig {
        ClientIpConfig {
            trusted_proxies: ClientIpConfig::parse_proxies(proxies).unwrap(),
            behind_cloudflare: false,
        }
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = headers(&[
            ("x-forwarded-for", "9.9.9.9"),
            ("cf-connecting-ip", "8.8.8.8"),
        ]);
        assert_eq!(
            ClientIpConfig::default().resolve(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_hops_are_skipped() {
        let config = behind("10.0.0.0/8, 192.168.1.1");
        // The client wrote 6.6.6.6 itself; 203.0.113.7 is what our first proxy saw.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3")]);
        assert_eq!(config.resolve(ip("192.168.1.1"), &h), ip("203.0.113.7"));
        // The same headers from an untrusted peer change nothing.
        assert_eq!(config.resolve(ip("203.0.113.9"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_is_read_with_ports_and_ipv6() {
        let config = behind("10.0.0.1");
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(config.resolve(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("x-forwarded-for", "198.51.100.4:1234")]);
        assert_eq!(
            config.resolve(ip("::ffff:10.0.0.1"), &h),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_last_trusted_address() {
        let config = behind("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "1.1.1.1, garbage, 10.0.0.7")]);
        assert_eq!(config.resolve(ip("10.0.0.1"), &h), ip("10.0.0.7"));
    }

    #[test]
    fn cloudflare_header_only_from_cloudflare_or_a_trusted_proxy() {
        let config = ClientIpConfig {
            trusted_proxies: vec![],
            behind_cloudflare: true,
        };
        let h = headers(&[("cf-connecting-ip", "198.51.100.1")]);
        assert_eq!(config.resolve(ip("104.16.0.5"), &h), ip("198.51.100.1"));
        assert_eq!(config.resolve(ip("203.0.113.2"), &h), ip("203.0.113.2"));
        let config = ClientIpConfig {
            trusted_proxies: behind("127.0.0.1").trusted_proxies,
            behind_cloudflare: true,
        };
        assert_eq!(config.resolve(ip("127.0.0.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn bad_proxy_lists_are_refused() {
        assert!(ClientIpConfig::parse_proxies("10.0.0.0/8, nope").is_err());
        assert_eq!(ClientIpConfig::parse_proxies(" ").unwrap(), vec![]);
    }
}
