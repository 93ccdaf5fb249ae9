//! Signature verification against vectors written here from the specification (not produced
//! by the signing code): HMAC-SHA256 keyed by the secret's text, `v0` over `t.body`, `v1` over
//! `t.h.values.body` with the names of `h` in the order given, a symmetric tolerance with its
//! edge included; and the Standard Webhooks reference vector.

use hmac::{Hmac, Mac};
use hook0_sdk::{Webhook, WebhookError};
use http::HeaderMap;

const SECRET: &str = "8b5a1f2e-0d3c-4c7e-9a11-2f6b3c4d5e6f";
const T: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"invoice":"in_42"}"#;
const EVENT_ID: &str = "0190a7c4-1111-7000-8000-00000000abcd";
const EVENT_TYPE: &str = "billing.invoice.paid";

fn hmac_hex(message: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn v0() -> String {
    hmac_hex(&[format!("{T}.").as_bytes(), BODY].concat())
}

/// `h` as given, and the delivered values in that order.
fn v1(names: &str, values: &[&str]) -> String {
    let message = format!("{T}.{names}.{}.", values.join("."));
    hmac_hex(&[message.as_bytes(), BODY].concat())
}

fn delivered(signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("x-event-id", EVENT_ID.parse().unwrap());
    headers.insert("X-Event-Type", EVENT_TYPE.parse().unwrap());
    headers.insert("x-hook0-signature", signature.parse().unwrap());
    headers
}

fn check(signature: &str, now: i64) -> Result<(), WebhookError> {
    Webhook::new(SECRET).verify_at(&delivered(signature), BODY, now)
}

fn good_v1() -> String {
    let names = "content-type x-event-id x-event-type";
    format!(
        "t={T},h={names},v1={}",
        v1(names, &["application/json", EVENT_ID, EVENT_TYPE])
    )
}

#[test]
fn v0_alone_and_v1_alone_are_accepted() {
    assert_eq!(check(&format!("t={T},v0={}", v0()), T), Ok(()));
    assert_eq!(check(&good_v1(), T), Ok(()));
}

#[test]
fn with_both_only_v1_counts() {
    let names = "content-type x-event-id x-event-type";
    let both = format!(
        "t={T},v0={},h={names},v1={}",
        v0(),
        v1(names, &["application/json", EVENT_ID, EVENT_TYPE])
    );
    assert_eq!(check(&both, T), Ok(()));
    // A valid v0 never rescues a bad v1 (no downgrade).
    let downgrade = format!("t={T},v0={},h={names},v1={}", v0(), "ab".repeat(32));
    assert!(matches!(check(&downgrade, T), Err(WebhookError::Hook0(_))));
}

#[test]
fn the_order_of_h_is_the_order_signed() {
    // Signed in this (unsorted) order: verifies when `h` says so, not once re-sorted.
    let names = "x-event-type content-type";
    let code = v1(names, &[EVENT_TYPE, "application/json"]);
    assert_eq!(check(&format!("t={T},h={names},v1={code}"), T), Ok(()));
    let reordered = format!("t={T},h=content-type x-event-type,v1={code}");
    assert!(matches!(check(&reordered, T), Err(WebhookError::Hook0(_))));
}

#[test]
fn a_covered_header_that_was_not_delivered_is_refused() {
    let names = "x-event-id x-tenant";
    let code = v1(names, &[EVENT_ID, "acme"]);
    let refused = check(&format!("t={T},h={names},v1={code}"), T).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "a header covered by the signature was not delivered"
    );
}

#[test]
fn codes_must_be_whole_hexadecimal() {
    for code in ["zz".repeat(32), "abc".to_owned()] {
        let refused = check(&format!("t={T},v0={code}"), T).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "signature code is not hexadecimal",
            "{code}"
        );
    }
}

#[test]
fn the_tolerance_is_symmetric_and_its_edge_is_accepted() {
    let signature = good_v1();
    assert_eq!(check(&signature, T + 300), Ok(()));
    assert_eq!(check(&signature, T - 300), Ok(()));
    for now in [T + 301, T - 301] {
        let refused = check(&signature, now).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "signature timestamp is outside the tolerance"
        );
    }
    assert_eq!(
        Webhook::new(SECRET)
            .with_tolerance(1000)
            .verify_at(&delivered(&signature), BODY, T + 1000),
        Ok(())
    );
}

#[test]
fn a_request_without_a_signature_or_with_another_body_is_refused() {
    let mut headers = delivered(&good_v1());
    assert!(Webhook::new(SECRET).verify_at(&headers, b"{}", T).is_err());
    headers.remove("x-hook0-signature");
    assert_eq!(
        Webhook::new(SECRET).verify_at(&headers, BODY, T),
        Err(WebhookError::MissingHeader("x-hook0-signature"))
    );
}

#[test]
fn standard_webhooks_reference_vector() {
    // From the Standard Webhooks specification.
    let mut headers = HeaderMap::new();
    headers.insert(
        "webhook-id",
        "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap(),
    );
    headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
    headers.insert(
        "webhook-signature",
        "v1,bm9ldmVu v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
            .parse()
            .unwrap(),
    );
    let webhook = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(webhook.verify_at(&headers, body, 1_614_265_330), Ok(()));
    assert!(webhook.verify_at(&headers, b"{}", 1_614_265_330).is_err());
    assert!(webhook
        .verify_at(&headers, body, 1_614_265_330 + 301)
        .is_err());
}
