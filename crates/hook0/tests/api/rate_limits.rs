//! API rate limits: per token (a service token and its attenuations share one budget), per
//! client IP, global; 429 `RateLimited` with `Retry-After` and `x-ratelimit-after`.

use std::time::Duration;

use hook0_api::{Limit, RateLimiting};

use crate::helpers::*;

fn limit(burst: u32, replenish_period: Duration) -> Option<Limit> {
    Some(Limit {
        burst,
        replenish_period,
    })
}

async fn expect_limited(response: reqwest::Response) {
    let retry_after = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.headers()["x-ratelimit-after"],
        retry_after.as_str()
    );
    let seconds: u64 = retry_after.parse().unwrap();
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
    expect_problem(response, 429, "RateLimited").await;
}

#[tokio::test]
async fn a_token_gets_its_burst_then_429_and_other_tokens_are_unaffected() {
    let app = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.rate_limiting = RateLimiting {
            // The master key's setup calls below stay within it.
            token: limit(6, Duration::from_secs(30)),
            ..RateLimiting::off()
        };
    })
    .await;
    let org = app.create_org_app().await;
    let key = app.public_key().await;
    let (_, service) = app.service_token(&org.organization_id, "busy").await;
    let attenuated = attenuate(&service, key, &only_application(&org.application_id));
    let path = format!("/event_types?application_id={}", org.application_id);

    for _ in 0..4 {
        expect_json(app.with_token(&service).get(&path).await, 200).await;
    }
    // The attenuated token spends the same budget (same root revocation id).
    for _ in 0..2 {
        expect_json(app.with_token(&attenuated).get(&path).await, 200).await;
    }
    expect_limited(app.with_token(&service).get(&path).await).await;
    expect_limited(app.with_token(&attenuated).get(&path).await).await;
    // The application secret is another token with a budget of its own.
    expect_json(app.with_token(&org.secret).get(&path).await, 200).await;
    // Unauthenticated routes have no token to limit.
    for _ in 0..5 {
        expect_json(app.anonymous().get("/instance").await, 200).await;
    }
}

#[tokio::test]
async fn the_ip_and_global_limits_cover_every_request() {
    let per_ip = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.rate_limiting = RateLimiting {
            ip: limit(4, Duration::from_secs(30)),
            ..RateLimiting::off()
        };
    })
    .await;
    for _ in 0..4 {
        expect_json(per_ip.anonymous().get("/instance").await, 200).await;
    }
    expect_limited(per_ip.anonymous().get("/instance").await).await;
    expect_limited(per_ip.get("/organizations").await).await;

    let global = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.rate_limiting = RateLimiting {
            global: limit(2, Duration::from_secs(30)),
            ..RateLimiting::off()
        };
    })
    .await;
    for _ in 0..2 {
        expect_json(global.anonymous().get("/errors").await, 200).await;
    }
    expect_limited(global.anonymous().get("/errors").await).await;
    // Outside /api/v1 (metrics) nothing is limited.
    let metrics = global
        .client
        .get(format!("http://{}/metrics", global.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}
