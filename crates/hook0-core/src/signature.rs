//! The `X-Hook0-Signature` header: how the worker signs a delivery and how a receiver (or our
//! SDK) checks one. Receivers already verify upstream Hook0's format, so the bytes must match it
//! exactly: `t=<unix>[,v0=<hex>][,h=<names>,v1=<hex>]`, HMAC-SHA256 keyed by the subscription
//! secret's UUID string.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Which signature versions the worker emits (`ENABLED_SIGNATURE_VERSIONS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureVersions {
    /// `v0`: HMAC over `t.body`; covers no header.
    pub v0: bool,
    /// `v1`: HMAC over `t.names.values.body`; covers the request's headers.
    pub v1: bool,
}

impl Default for SignatureVersions {
    /// Upstream's default: `v1` only.
    fn default() -> Self {
        Self {
            v0: false,
            v1: true,
        }
    }
}

impl SignatureVersions {
    /// Parses a comma list such as `v0,v1` (case-insensitive, blanks ignored).
    /// Unknown versions and a list naming no version are refused.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut versions = Self {
            v0: false,
            v1: false,
        };
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().as_str() {
                "v0" => versions.v0 = true,
                "v1" => versions.v1 = true,
                _ => {
                    return Err(format!(
                        "unknown signature version `{item}` (expected v0 or v1)"
                    ))
                }
            }
        }
        if !versions.v0 && !versions.v1 {
            return Err("at least one signature version (v0 or v1) must be enabled".to_owned());
        }
        Ok(versions)
    }
}

fn mac_over(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn v0_mac(secret: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    mac_over(secret, &[timestamp.as_bytes(), b".", body])
}

fn v1_mac(secret: &str, timestamp: &str, names: &str, values: &str, body: &[u8]) -> Vec<u8> {
    mac_over(
        secret,
        &[
            timestamp.as_bytes(),
            b".",
            names.as_bytes(),
            b".",
            values.as_bytes(),
            b".",
            body,
        ],
    )
}

/// Builds the signature header value for an outgoing delivery.
///
/// `headers` are the headers on the request that the signature covers (custom subscription
/// headers, `content-type`, `x-event-id`, `x-event-type`); names may have any case, they are
/// lowercased and sorted. `secret` is the subscription secret as its hyphenated UUID string.
pub fn sign(
    secret: &str,
    timestamp: i64,
    headers: &[(&str, &str)],
    body: &[u8],
    versions: SignatureVersions,
) -> String {
    let t = timestamp.to_string();
    let mut out = format!("t={t}");
    if versions.v0 {
        out.push_str(",v0=");
        out.push_str(&hex::encode(v0_mac(secret, &t, body)));
    }
    if versions.v1 {
        let mut covered: Vec<(String, &str)> = headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), *value))
            .collect();
        covered.sort_by(|a, b| a.0.cmp(&b.0));
        let names = covered
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let values = covered
            .iter()
            .map(|(_, v)| *v)
            .collect::<Vec<_>>()
            .join(".");
        out.push_str(",h=");
        out.push_str(&names);
        out.push_str(",v1=");
        out.push_str(&hex::encode(v1_mac(secret, &t, &names, &values, body)));
    }
    out
}

/// Why a signature was refused. The names match the SDK conformance vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("signature code is not hexadecimal")]
    CodeNotHexadecimal,
    #[error("a header covered by the signature was not delivered")]
    HeaderNotDelivered,
    #[error("signature code does not match")]
    CodeMismatch,
    #[error("signature timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("signature header is malformed")]
    Malformed,
}

impl Refusal {
    /// The snake_case name used by the SDK conformance vectors.
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::CodeNotHexadecimal => "code_not_hexadecimal",
            Refusal::HeaderNotDelivered => "header_not_delivered",
            Refusal::CodeMismatch => "code_mismatch",
            Refusal::OutsideTolerance => "outside_tolerance",
            Refusal::Malformed => "malformed",
        }
    }
}

/// The parts of a signature header, each the first occurrence of its key.
#[derive(Default)]
struct Parts<'a> {
    t: Option<&'a str>,
    v0: Option<&'a str>,
    h: Option<&'a str>,
    v1: Option<&'a str>,
}

fn parse_parts(header: &str) -> Result<Parts<'_>, Refusal> {
    let mut parts = Parts::default();
    for part in header.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part.split_once('=').ok_or(Refusal::Malformed)?;
        let slot = match key.trim() {
            "t" => &mut parts.t,
            "v0" => &mut parts.v0,
            "h" => &mut parts.h,
            "v1" => &mut parts.v1,
            _ => continue, // unknown keys are left for future versions
        };
        slot.get_or_insert(value);
    }
    Ok(parts)
}

fn code_matches(code: &str, expected: &[u8]) -> Result<(), Refusal> {
    let given = hex::decode(code.trim()).map_err(|_| Refusal::CodeNotHexadecimal)?;
    if bool::from(given.as_slice().ct_eq(expected)) {
        Ok(())
    } else {
        Err(Refusal::CodeMismatch)
    }
}

/// Checks a signature header against a received request.
///
/// `delivered_headers` looks a header up by lowercase name (it should match names
/// case-insensitively, as HTTP does). Names in `h` are used in the order given. When `v1` is
/// present only `v1` is checked, so a valid `v0` can never rescue a bad `v1`. The timestamp is
/// accepted when `|now - t| <= tolerance_secs`; it is checked after the code, as upstream SDKs do.
pub fn verify(
    signature_header: &str,
    body: &[u8],
    delivered_headers: &dyn Fn(&str) -> Option<String>,
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), Refusal> {
    let parts = parse_parts(signature_header)?;
    let t_raw = parts.t.ok_or(Refusal::Malformed)?.trim();
    let t: i64 = t_raw.parse().map_err(|_| Refusal::Malformed)?;

    if let Some(v1) = parts.v1 {
        // The MAC covers `h` exactly as sent; its names are looked up in that order.
        let names = parts.h.ok_or(Refusal::Malformed)?;
        let mut values = Vec::new();
        for name in names.split(' ').filter(|n| !n.is_empty()) {
            values.push(delivered_headers(name).ok_or(Refusal::HeaderNotDelivered)?);
        }
        code_matches(v1, &v1_mac(secret, t_raw, names, &values.join("."), body))?;
    } else if let Some(v0) = parts.v0 {
        code_matches(v0, &v0_mac(secret, t_raw, body))?;
    } else {
        return Err(Refusal::Malformed);
    }

    if (i128::from(now) - i128::from(t)).abs() <= i128::from(tolerance_secs) {
        Ok(())
    } else {
        Err(Refusal::OutsideTolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_636_936_200;
    const V0: &str = "1b3d69df55f1e52f05224ba94a5162abeb17ef52cd7f4948c390f810d6a87e98";
    const V1: &str = "bc521546ba5de381b12f135782d2008b028c3065c191760b12b76850a8fc8f51";
    const EVENT_ID: &str = "1a01cb48-5142-4d9b-8f90-d20cca61f0ee";
    const HEADERS: [(&str, &str); 2] = [
        ("X-Event-Type", "service.resource.verb"),
        ("x-event-id", EVENT_ID),
    ];
    const BOTH: SignatureVersions = SignatureVersions { v0: true, v1: true };

    fn lookup(name: &str) -> Option<String> {
        HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    }

    fn check(header: &str, now: i64) -> Result<(), Refusal> {
        verify(header, b"hello !", &lookup, "secret", now, 300)
    }

    #[test]
    fn reference_vectors() {
        let v0_only = SignatureVersions {
            v0: true,
            v1: false,
        };
        assert_eq!(
            sign("secret", T, &[], b"hello !", v0_only),
            format!("t={T},v0={V0}")
        );
        assert_eq!(
            sign(
                "secret",
                T,
                &HEADERS,
                b"hello !",
                SignatureVersions::default()
            ),
            format!("t={T},h=x-event-id x-event-type,v1={V1}")
        );
    }

    #[test]
    fn both_versions_in_order_and_verifiable() {
        let header = sign("secret", T, &HEADERS, b"hello !", BOTH);
        assert_eq!(
            header,
            format!("t={T},v0={V0},h=x-event-id x-event-type,v1={V1}")
        );
        assert_eq!(check(&header, T), Ok(()));
    }

    #[test]
    fn v0_alone_verifies() {
        assert_eq!(check(&format!("t={T},v0={V0}"), T), Ok(()));
    }

    #[test]
    fn valid_v0_does_not_rescue_bad_v1() {
        let bad_v1 = format!(
            "t={T},v0={V0},h=x-event-id x-event-type,v1={}",
            "0".repeat(64)
        );
        assert_eq!(check(&bad_v1, T), Err(Refusal::CodeMismatch));
    }

    #[test]
    fn header_order_in_h_matters() {
        let swapped = format!("t={T},h=x-event-type x-event-id,v1={V1}");
        assert_eq!(check(&swapped, T), Err(Refusal::CodeMismatch));
    }

    #[test]
    fn covered_header_must_be_delivered() {
        let header = format!("t={T},h=x-event-id x-event-type x-missing,v1={V1}");
        assert_eq!(check(&header, T), Err(Refusal::HeaderNotDelivered));
    }

    #[test]
    fn codes_must_be_whole_hex() {
        let non_hex = format!("t={T},h=x-event-id x-event-type,v1=zz{}", &V1[2..]);
        assert_eq!(check(&non_hex, T), Err(Refusal::CodeNotHexadecimal));
        let odd = format!("t={T},h=x-event-id x-event-type,v1={}", &V1[1..]);
        assert_eq!(check(&odd, T), Err(Refusal::CodeNotHexadecimal));
    }

    #[test]
    fn symmetric_inclusive_tolerance() {
        let header = format!("t={T},h=x-event-id x-event-type,v1={V1}");
        assert_eq!(check(&header, T + 300), Ok(()));
        assert_eq!(check(&header, T - 300), Ok(()));
        assert_eq!(check(&header, T + 301), Err(Refusal::OutsideTolerance));
        assert_eq!(check(&header, T - 301), Err(Refusal::OutsideTolerance));
    }

    #[test]
    fn malformed_headers() {
        for header in [
            "",
            "garbage",
            "t=abc,v0=00",
            &format!("t={T}"),
            &format!("v0={V0}"),
        ] {
            assert_eq!(check(header, T), Err(Refusal::Malformed), "{header:?}");
        }
        assert_eq!(check(&format!("t={T},v1={V1}"), T), Err(Refusal::Malformed));
    }

    #[test]
    fn refusal_names() {
        assert_eq!(Refusal::CodeNotHexadecimal.as_str(), "code_not_hexadecimal");
        assert_eq!(Refusal::HeaderNotDelivered.as_str(), "header_not_delivered");
        assert_eq!(Refusal::CodeMismatch.as_str(), "code_mismatch");
        assert_eq!(Refusal::OutsideTolerance.as_str(), "outside_tolerance");
    }

    #[test]
    fn parse_versions() {
        assert_eq!(SignatureVersions::parse(" V0 , v1 "), Ok(BOTH));
        assert_eq!(
            SignatureVersions::parse("v1"),
            Ok(SignatureVersions::default())
        );
        assert!(SignatureVersions::parse("v2").is_err());
        assert!(SignatureVersions::parse("").is_err());
        assert!(SignatureVersions::parse(" , ").is_err());
    }
}
