//! Behind proxies and in browsers: the client's address from a trusted proxy's headers (for the
//! per-IP rate limit and the event's `ip`), never from an untrusted peer's; CORS answers for
//! `CORS_ALLOWED_ORIGINS` only.

use std::time::Duration;

use hook0_api::{ClientIpConfig, Limit, RateLimiting};
use reqwest::Method;

use crate::helpers::*;

fn per_ip_limit_of_two(c: &mut TestConfig) {
    c.run_worker = false;
    c.api.rate_limiting = RateLimiting {
        ip: Some(Limit {
            burst: 2,
            replenish_period: Duration::from_secs(60),
        }),
        ..RateLimiting::off()
    };
}

async fn instance_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.anonymous()
        .request(Method::GET, "/instance")
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_rate_limit_and_ip() {
    let app = spawn_app_with(|c| {
        per_ip_limit_of_two(c);
        c.api.client_ip = ClientIpConfig {
            trusted_proxies: ClientIpConfig::parse_proxies("127.0.0.0/8").unwrap(),
            behind_cloudflare: false,
        };
    })
    .await;
    // Two clients behind the same proxy (loopback): each has its own bucket.
    for _ in 0..2 {
        assert_eq!(instance_from(&app, "203.0.113.10").await, 200);
    }
    assert_eq!(instance_from(&app, "203.0.113.10").await, 429);
    assert_eq!(instance_from(&app, "203.0.113.11").await, 200);
    // A client prepending a fake address to the chain is still known by the proxy's entry.
    assert_eq!(instance_from(&app, "198.51.100.1, 203.0.113.10").await, 429);

    // The stored event carries the client's address, not the proxy's.
    let app = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.client_ip = ClientIpConfig {
            trusted_proxies: ClientIpConfig::parse_proxies("127.0.0.1").unwrap(),
            behind_cloudflare: false,
        };
    })
    .await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let event = app
        .master()
        .request(Method::POST, "/event")
        .header("Forwarded", "for=\"[2001:db8::7]:5555\"")
        .json(&app.event_body(&org.application_id))
        .send()
        .await
        .unwrap();
    let event = expect_json(event, 201).await;
    let stored = expect_json(
        app.get(&format!(
            "/events/{}?application_id={}",
            event["event_id"].as_str().unwrap(),
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(stored["ip"], "2001:db8::7");
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_change_nothing() {
    let app = spawn_app_with(|c| {
        per_ip_limit_of_two(c);
        // A proxy is configured, but it is not us (loopback).
        c.api.client_ip = ClientIpConfig {
            trusted_proxies: ClientIpConfig::parse_proxies("10.0.0.0/8").unwrap(),
            behind_cloudflare: true,
        };
    })
    .await;
    // Spoofing a new address per request does not buy a new bucket.
    assert_eq!(instance_from(&app, "203.0.113.20").await, 200);
    assert_eq!(instance_from(&app, "203.0.113.21").await, 200);
    assert_eq!(instance_from(&app, "203.0.113.22").await, 429);
    let spoofed = app
        .anonymous()
        .request(Method::GET, "/instance")
        .header("CF-Connecting-IP", "203.0.113.23")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);

    // And the stored event keeps the real peer.
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    app.create_event_type(&org.application_id, EVENT_TYPE).await;
    let event = app
        .master()
        .request(Method::POST, "/event")
        .header("X-Forwarded-For", "198.51.100.77")
        .json(&app.event_body(&org.application_id))
        .send()
        .await
        .unwrap();
    let event = expect_json(event, 201).await;
    let stored = expect_json(
        app.get(&format!(
            "/events/{}?application_id={}",
            event["event_id"].as_str().unwrap(),
            org.application_id
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(stored["ip"], "127.0.0.1");
}

const ALLOWED: &str = "https://app.example.com";

async fn cors_app() -> TestApp {
    spawn_app_with(|c| {
        c.run_worker = false;
        c.api.cors_allowed_origins = vec![ALLOWED.into(), "http://localhost:3000".into()];
    })
    .await
}

fn preflight(app: &TestApp, origin: &str) -> reqwest::RequestBuilder {
    app.anonymous()
        .request(Method::OPTIONS, "/event")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
}

#[tokio::test]
async fn a_listed_origin_gets_preflights_and_cors_headers() {
    let app = cors_app().await;
    let answer = preflight(&app, ALLOWED).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let h = answer.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in [
        "accept",
        "authorization",
        "content-type",
        "hook0-client-options",
    ] {
        assert!(headers.contains(name), "{headers}");
    }
    assert_eq!(h["access-control-max-age"], "3600");

    // A simple request gets the origin back, and a browser may read Link.
    let answer = app
        .master()
        .request(Method::GET, "/organizations")
        .header("Origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["access-control-allow-origin"], ALLOWED);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("link"), "{exposed}");
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_header_at_all() {
    let app = cors_app().await;
    let answer = preflight(&app, "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 405);
    assert!(
        !answer
            .headers()
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        answer.headers()
    );
    let answer = app
        .master()
        .request(Method::GET, "/organizations")
        .header("Origin", "https://app.example.com.evil.net")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_eq!(answer.headers()["vary"], "origin");

    // Without CORS_ALLOWED_ORIGINS (the default), no origin gets anything.
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let answer = preflight(&app, ALLOWED).send().await.unwrap();
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
