//! Unauthenticated instance routes (`/instance`, `/errors`, `/payload_content_types`,
//! `/health`, `/quotas`), path spellings, unknown routes and security headers.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn instance_describes_the_configuration() {
    let app = spawn_app().await;

    let instance = expect_json(app.anonymous().get("/instance").await, 200).await;

    assert_fields(
        &instance,
        &[
            "biscuit_public_key",
            "registration_disabled",
            "password_minimum_length",
            "auto_db_migration",
            "application_secret_compatibility",
            "quota_enforcement",
            "matomo",
            "formbricks",
            "support_email_address",
            "cloudflare_turnstile_site_key",
        ],
    );
    assert_eq!(instance["application_secret_compatibility"], true);
    assert_eq!(instance["quota_enforcement"], false);
}

#[tokio::test]
async fn errors_lists_the_whole_problem_catalogue() {
    let app = spawn_app().await;

    let errors = expect_json(app.anonymous().get("/errors").await, 200).await;

    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 46);
    for problem in errors {
        let id = problem["id"].as_str().unwrap();
        assert_eq!(
            problem["type"],
            format!(
                "https://documentation.hook0.com/reference/error-codes#{}",
                id.to_lowercase()
            )
            .as_str()
        );
        assert!(problem["status"]
            .as_u64()
            .is_some_and(|s| (400..600).contains(&s)));
        assert!(problem["title"].is_string() && problem["detail"].is_string());
    }
    let status_of = |id: &str| errors.iter().find(|p| p["id"] == id).unwrap()["status"].clone();
    assert_eq!(status_of("AuthInvalidBiscuit"), 403);
    assert_eq!(status_of("EventAlreadyIngested"), 409);
    assert_eq!(status_of("Validation"), 422);
    assert_eq!(status_of("ServiceUnavailable"), 503);
}

#[tokio::test]
async fn payload_content_types_are_the_three_upstream_ones() {
    let app = spawn_app().await;

    let types = expect_json(app.anonymous().get("/payload_content_types").await, 200).await;

    assert_eq!(
        types,
        json!([
            "text/plain",
            "application/json",
            "application/octet-stream+base64"
        ])
    );
}

#[tokio::test]
async fn quotas_answer_not_enforced() {
    let app = spawn_app().await;

    let quotas = expect_json(app.anonymous().get("/quotas").await, 200).await;

    assert_fields(&quotas, &["enabled", "limits"]);
    assert_eq!(quotas["enabled"], false);
    assert_fields(
        &quotas["limits"],
        &[
            "global_members_per_organization_limit",
            "global_applications_per_organization_limit",
            "global_events_per_day_limit",
            "global_days_of_events_retention_limit",
            "global_subscriptions_per_application_limit",
            "global_event_types_per_application_limit",
        ],
    );
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;

    let health = expect_json(app.anonymous().get("/health").await, 200).await;

    assert_eq!(health["database"], true);
    for field in [
        "database",
        "pulsar",
        "object_storage",
        "database_duration_ms",
        "total_duration_ms",
    ] {
        assert!(health.get(field).is_some(), "{field} in {health}");
    }
}

#[tokio::test]
async fn health_requires_its_key_when_one_is_configured() {
    let app = spawn_app_with(|cfg| cfg.api.health_check_key = Some("probe-key".into())).await;

    expect_problem(app.anonymous().get("/health").await, 403, "Forbidden").await;
    expect_problem(
        app.anonymous().get("/health?key=wrong").await,
        403,
        "Forbidden",
    )
    .await;
    expect_json(app.anonymous().get("/health?key=probe-key").await, 200).await;
}

#[tokio::test]
async fn trailing_slashes_and_doubled_slashes_are_accepted() {
    let app = spawn_app().await;
    let org = app.create_org_app().await;

    for path in [
        "/api/v1/instance/",
        "//api/v1/instance",
        "/api/v1//instance",
        "//api//v1//instance//",
    ] {
        expect_json(app.anonymous().get(path).await, 200).await;
    }
    let app_path = format!("/api/v1/applications/{}/", org.application_id);
    expect_json(app.get(&app_path).await, 200).await;
    let doubled = format!("//api/v1//applications//{}", org.application_id);
    expect_json(app.get(&doubled).await, 200).await;
    let listed = format!(
        "/api/v1/applications/?organization_id={}",
        org.organization_id
    );
    assert_eq!(
        expect_json(app.get(&listed).await, 200)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn unknown_routes_are_problems() {
    let app = spawn_app().await;

    expect_problem(app.get("/no_such_route").await, 404, "NotFound").await;
    expect_problem(
        app.anonymous().get("/api/v2/instance").await,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn answers_carry_the_security_headers() {
    let app = spawn_app().await;

    let response = app.anonymous().get("/instance").await;

    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    // The deprecated XSS auditor is turned off rather than asked to block.
    assert_eq!(header("x-xss-protection").as_deref(), Some("0"));
    assert!(header("referrer-policy").is_some());
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn answers_with_secrets_are_never_cached_and_the_docs_page_has_a_strict_policy() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    let secrets = app
        .get(&format!(
            "/application_secrets?application_id={}",
            org.application_id
        ))
        .await;
    assert_eq!(secrets.status(), 200);
    assert_eq!(secrets.headers()["cache-control"], "no-store");

    let docs = app.anonymous().get("/api/v1/docs").await;
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // The hash is the page's own script's.
    let page = docs.text().await.unwrap();
    let script = page
        .split("<script>")
        .nth(1)
        .unwrap()
        .split("</script>")
        .next()
        .unwrap();
    use base64::Engine;
    use sha2::Digest;
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    assert!(csp.contains(&hash), "{csp}");
}
