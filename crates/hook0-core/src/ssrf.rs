//! Which addresses a delivery may connect to. A webhook target is chosen by the customer, so
//! without this rule anyone could make the worker call loopback, the private network or the cloud
//! metadata service. The worker resolves the target once, refuses it if **any** address is
//! forbidden, and pins the connection to the vetted addresses.
//!
//! Written out by hand because `IpAddr::is_global` is still unstable. Unlike upstream, all of
//! `2001::/23` is forbidden, including its few anycast services (PCP, TURN, AMT, AS112): no
//! webhook receiver lives there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 ranges a delivery must not reach, as (network, prefix length).
const FORBIDDEN_V4: [([u8; 4], u32); 16] = [
    ([0, 0, 0, 0], 8),          // "this network"
    ([10, 0, 0, 0], 8),         // private
    ([172, 16, 0, 0], 12),      // private
    ([192, 168, 0, 0], 16),     // private
    ([100, 64, 0, 0], 10),      // carrier-grade NAT
    ([127, 0, 0, 0], 8),        // loopback
    ([169, 254, 0, 0], 16),     // link-local, cloud metadata
    ([192, 0, 0, 0], 24),       // IETF protocol assignments
    ([192, 88, 99, 0], 24),     // 6to4 relay anycast
    ([192, 0, 2, 0], 24),       // documentation TEST-NET-1
    ([198, 51, 100, 0], 24),    // documentation TEST-NET-2
    ([203, 0, 113, 0], 24),     // documentation TEST-NET-3
    ([198, 18, 0, 0], 15),      // benchmarking
    ([240, 0, 0, 0], 4),        // reserved, includes broadcast
    ([224, 0, 0, 0], 4),        // multicast
    ([255, 255, 255, 255], 32), // broadcast (already in 240/4, listed for clarity)
];

/// IPv6 ranges a delivery must not reach, as (network, prefix length).
/// `64:ff9b::/96` is absent: it is judged by the IPv4 address it embeds.
const FORBIDDEN_V6: [(u128, u32); 12] = [
    (0x0000_0000_0000_0000_0000_0000_0000_0000, 8), // ::/8: ::, ::1, v4-mapped/compatible
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 32), // NAT64 outside the well-known /96
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 6to4
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64), // discard-only
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23), // IETF protocol assignments
    (0x5f00_0000_0000_0000_0000_0000_0000_0000, 16), // SRv6 SIDs
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // documentation
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // documentation
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7), // unique local
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // link-local
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10), // site-local (deprecated)
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8), // multicast
];

const NAT64_WELL_KNOWN: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;

fn in_prefix(addr: u128, network: u128, len: u32, width: u32) -> bool {
    let shift = width - len;
    len == 0 || (addr >> shift) == (network >> shift)
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let addr = u32::from(ip) as u128;
    FORBIDDEN_V4
        .iter()
        .any(|(net, len)| in_prefix(addr, u32::from_be_bytes(*net) as u128, *len, 32))
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    let addr = u128::from(ip);
    if in_prefix(addr, NAT64_WELL_KNOWN, 96, 128) {
        return v4_forbidden(Ipv4Addr::from(addr as u32));
    }
    FORBIDDEN_V6
        .iter()
        .any(|(net, len)| in_prefix(addr, *net, *len, 128))
}

/// True when a delivery must not connect to `ip`.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => v6_forbidden(v6),
    }
}

/// True when a target resolved to at least one address and none is forbidden.
pub fn all_allowed(addrs: &[IpAddr]) -> bool {
    !addrs.is_empty() && !addrs.iter().any(|ip| is_forbidden(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_addresses() {
        for s in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "192.0.0.8",
            "192.88.99.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.19.0.1",
            "240.0.0.1",
            "224.0.0.251",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "64:ff9b:1::808:808",
            "2002:808:808::1",
            "100::1",
            "2001::1",
            "2001:1::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} should be forbidden");
        }
    }

    #[test]
    fn allowed_addresses() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "64:ff9b::808:808",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn any_forbidden_address_rejects_the_target() {
        assert!(all_allowed(&[ip("8.8.8.8"), ip("2606:4700::1111")]));
        assert!(!all_allowed(&[ip("8.8.8.8"), ip("127.0.0.1")]));
        assert!(!all_allowed(&[]));
    }
}
