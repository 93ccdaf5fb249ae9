//! Signing under the Standard Webhooks specification (<https://www.standardwebhooks.com>), which
//! a subscription may opt into beside `X-Hook0-Signature`, so receivers can use any Standard
//! Webhooks library.
//!
//! A delivery carries `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`:
//! space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per live secret,
//! so that during a secret rotation both the old and the new secret sign. Secrets are
//! `whsec_<base64>`; the HMAC key is the base64-decoded part.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret we generate (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a Standard Webhooks secret (expected whsec_ followed by base64)")]
pub struct InvalidSecret;

/// A new random secret, `whsec_<base64 of 32 bytes>`.
pub fn generate_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The HMAC key of a secret: its base64 part, decoded. The prefix is optional, as in the
/// reference libraries.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, InvalidSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
    if key.is_empty() {
        return Err(InvalidSecret);
    }
    Ok(key)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `v1,<base64 signature>` of one message under one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, InvalidSecret> {
    let key = secret_key(secret)?;
    let code = mac(&key, id, timestamp, body).finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(code)))
}

/// The `webhook-signature` value: one `v1,…` per secret, space-separated, in the given order.
pub fn signature_header(
    secrets: &[impl AsRef<str>],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, InvalidSecret> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret.as_ref(), id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

/// Why a receiver refuses a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the timestamp is too old or too new")]
    OutsideTolerance,
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// Receiver side: accepts when `|now − timestamp| ≤ tolerance_secs` and any `v1` signature in
/// `header` matches `secret` (compared in constant time).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), Refusal> {
    if now.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(Refusal::OutsideTolerance);
    }
    let key = secret_key(secret).map_err(|_| Refusal::NoMatchingSignature)?;
    let expected = mac(&key, id, timestamp, body).finalize().into_bytes();
    let matches = header
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|code| STANDARD.decode(code).ok())
        .any(|code| bool::from(code.as_slice().ct_eq(expected.as_slice())));
    if matches {
        Ok(())
    } else {
        Err(Refusal::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's reference vector (used by every Standard Webhooks library).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn reference_vector() {
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY).unwrap(), EXPECTED);
        // The prefix is optional.
        assert_eq!(
            sign(&SECRET[SECRET_PREFIX.len()..], ID, TIMESTAMP, BODY).unwrap(),
            EXPECTED
        );
    }

    #[test]
    fn one_signature_per_secret_in_order() {
        let other = generate_secret();
        let header = signature_header(&[other.as_str(), SECRET], ID, TIMESTAMP, BODY).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], EXPECTED);
        assert_eq!(parts[0], sign(&other, ID, TIMESTAMP, BODY).unwrap());
    }

    #[test]
    fn verify_accepts_any_matching_signature_within_tolerance() {
        let header = format!("v1,bm90IGl0 {EXPECTED}");
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, BODY, &header, TIMESTAMP + 300, 300),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, BODY, &header, TIMESTAMP - 301, 300),
            Err(Refusal::OutsideTolerance)
        );
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, b"tampered", &header, TIMESTAMP, 300),
            Err(Refusal::NoMatchingSignature)
        );
        assert_eq!(
            verify(
                &generate_secret(),
                ID,
                TIMESTAMP,
                BODY,
                EXPECTED,
                TIMESTAMP,
                300
            ),
            Err(Refusal::NoMatchingSignature)
        );
    }

    #[test]
    fn generated_secrets_are_valid_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(secret_key(&a).unwrap().len(), SECRET_BYTES);
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(secret_key("whsec_"), Err(InvalidSecret));
        assert_eq!(secret_key("whsec_not base64!"), Err(InvalidSecret));
        assert!(signature_header(&["whsec_%%%"], ID, TIMESTAMP, BODY).is_err());
    }
}
