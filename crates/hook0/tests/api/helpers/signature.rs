//! Hook0's delivery signature, verified the way a receiver would, written from the reference
//! (section 5) and independent of `hook0_core::signature`: HMAC-SHA256 keyed by the
//! subscription secret, `v0` over `t.body`, `v1` over `t.names.values.body`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Received;

fn hmac_sha256_hex(key: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The `key=value` parts of a signature header, in order.
pub fn signature_parts(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .map(|part| {
            let (key, value) = part
                .split_once('=')
                .unwrap_or_else(|| panic!("part {part} has no '='"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

pub fn part<'a>(parts: &'a [(String, String)], key: &str) -> &'a str {
    parts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {parts:?}"))
}

/// v0: HMAC over `t.body`.
pub fn v0(secret: &str, t: &str, body: &[u8]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    hmac_sha256_hex(secret, &message)
}

/// v1: HMAC over `t.names.values.body`, values taken from the delivered headers named in `h`.
pub fn v1(secret: &str, t: &str, names: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let values: Vec<&str> = names
        .split(' ')
        .map(|name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} not delivered"))
                .1
        })
        .collect();
    let mut message = format!("{t}.{names}.{}.", values.join(".")).into_bytes();
    message.extend_from_slice(body);
    hmac_sha256_hex(secret, &message)
}

/// Checks a delivered request's v1 (and v0 when present) signature against `secret`.
pub fn verify(request: &Received, header_name: &str, secret: &str) -> Vec<(String, String)> {
    let value = request
        .header(header_name)
        .unwrap_or_else(|| panic!("no {header_name} header"));
    let parts = signature_parts(value);
    let t = part(&parts, "t");
    let sent_at: i64 = t.parse().expect("t is unix seconds");
    assert!(
        (chrono::Utc::now().timestamp() - sent_at).abs() < 60,
        "t is the signing time"
    );
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().expect("visible ASCII")))
        .collect();
    if parts.iter().any(|(k, _)| k == "v1") {
        let names = part(&parts, "h");
        assert_eq!(
            part(&parts, "v1"),
            v1(secret, t, names, &headers, &request.body),
            "v1 signature"
        );
    }
    if parts.iter().any(|(k, _)| k == "v0") {
        assert_eq!(
            part(&parts, "v0"),
            v0(secret, t, &request.body),
            "v0 signature"
        );
    }
    parts
}

pub fn keys(parts: &[(String, String)]) -> Vec<&str> {
    parts.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn this_verifier_matches_the_reference_vectors() {
    let t = "1636936200";
    assert_eq!(
        v0("secret", t, b"hello !"),
        "1b3d69df55f1e52f05224ba94a5162abeb17ef52cd7f4948c390f810d6a87e98"
    );
    let headers = [
        ("x-event-id", "1a01cb48-5142-4d9b-8f90-d20cca61f0ee"),
        ("x-event-type", "service.resource.verb"),
    ];
    assert_eq!(
        v1("secret", t, "x-event-id x-event-type", &headers, b"hello !"),
        "bc521546ba5de381b12f135782d2008b028c3065c191760b12b76850a8fc8f51"
    );
}
