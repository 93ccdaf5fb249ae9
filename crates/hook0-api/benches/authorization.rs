//! What Biscuit authorization adds to a request: the same call (`GET /api/v1/event_types`, one
//! indexed read) through the whole router, in process, authenticated by the master key (no
//! token to check), an application secret (one lookup), and Biscuits (revocation lookup in the
//! store, Datalog authorizer; the signatures are checked on a token's first use only, then
//! remembered): a service token, the same token attenuated to the application, a user session.
//! Prints ns per request and the difference to the master key, and what checking a token's
//! signatures costs on its first use.
//!
//! `cargo bench -p hook0-api --bench authorization` (a release build; `-- --quick` for fewer
//! iterations).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::{Algorithm, Biscuit, PublicKey};
use hook0_api::{ApiConfig, AppState};
use hook0_store::sqlite::SqliteStore;
use hook0_store::StoreOptions;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Mean time of one call, over `iterations` after a warm-up.
async fn time_per_call(
    router: &axum::Router,
    path: &str,
    token: &str,
    iterations: u32,
) -> Duration {
    for _ in 0..iterations / 10 + 1 {
        let (status, _) = call(router, "GET", path, token, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let started = Instant::now();
    for _ in 0..iterations {
        let (status, _) = call(router, "GET", path, token, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    started.elapsed() / iterations
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iterations = if quick { 500 } else { 5_000 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            dir.path().join("hook0.db").to_str().unwrap(),
            &StoreOptions::default(),
        )
        .await
        .unwrap();
        let master = Uuid::new_v4().to_string();
        let config = ApiConfig {
            master_api_key: Some(master.parse().unwrap()),
            ..ApiConfig::default()
        };
        let public_key = PublicKey::from_bytes_hex(&config.biscuit_key.public_hex(), Algorithm::Ed25519).unwrap();
        let router = hook0_api::router(AppState {
            store: Arc::new(store),
            config: Arc::new(config),
        });

        // An organization with an application, a service token, and a user session.
        let (_, org) = call(&router, "POST", "/api/v1/organizations", &master, Some(json!({"name": "Bench"}))).await;
        let org = org["organization_id"].as_str().unwrap().to_owned();
        let (_, app) = call(&router, "POST", "/api/v1/applications", &master, Some(json!({"organization_id": org, "name": "App"}))).await;
        let app = app["application_id"].as_str().unwrap().to_owned();
        let (_, secrets) = call(&router, "GET", &format!("/api/v1/application_secrets?application_id={app}"), &master, None).await;
        let secret = secrets[0]["token"].as_str().unwrap().to_owned();
        let (_, service) = call(&router, "POST", "/api/v1/service_token", &master, Some(json!({"organization_id": org, "name": "bench"}))).await;
        let service = service["biscuit"].as_str().unwrap().to_owned();
        let app_id: Uuid = app.parse().unwrap();
        let attenuated = Biscuit::from_base64(&service, public_key)
            .unwrap()
            .append(
                BlockBuilder::new()
                    .code(format!("check if application_id(hex:{});", hex::encode(app_id.as_bytes())))
                    .unwrap(),
            )
            .unwrap()
            .to_base64()
            .unwrap();
        // A user (the first to register: verified at once without SMTP), viewer of the
        // organization, logged in after the invitation so its token lists the role.
        let registration = json!({"first_name": "Bench", "last_name": "Mark", "email": "bench@example.com", "password": "correct-zebra-staple-42"});
        let (status, _) = call(&router, "POST", "/api/v1/register", "", Some(registration)).await;
        assert_eq!(status, StatusCode::CREATED);
        let invite = json!({"email": "bench@example.com", "role": "viewer"});
        let (status, _) = call(&router, "POST", &format!("/api/v1/organizations/{org}/invite"), &master, Some(invite)).await;
        assert_eq!(status, StatusCode::OK);
        let credentials = json!({"email": "bench@example.com", "password": "correct-zebra-staple-42"});
        let (status, login) = call(&router, "POST", "/api/v1/auth/login", "", Some(credentials)).await;
        assert_eq!(status, StatusCode::CREATED, "{login}");
        let user = login["access_token"].as_str().unwrap().to_owned();

        let path = format!("/api/v1/event_types?application_id={app}");
        println!("GET /api/v1/event_types through the router, {iterations} calls each (mean):");
        let baseline = time_per_call(&router, &path, &master, iterations).await;
        println!("  {:<34} {:>9} ns/request", "master key (no token check)", baseline.as_nanos());
        for (name, token) in [
            ("application secret", secret.as_str()),
            ("service token (Biscuit)", service.as_str()),
            ("attenuated service token (Biscuit)", attenuated.as_str()),
            ("user session, viewer (Biscuit)", user.as_str()),
        ] {
            let per_call = time_per_call(&router, &path, token, iterations).await;
            println!(
                "  {name:<34} {:>9} ns/request  (+{} ns)",
                per_call.as_nanos(),
                per_call.as_nanos() as i128 - baseline.as_nanos() as i128
            );
        }

        // The signature check alone, without the store or the authorizer.
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(Biscuit::from_base64(&attenuated, public_key).unwrap());
        }
        println!(
            "  {:<34} {:>9} ns",
            "signatures of a new token (2 blocks)",
            (started.elapsed() / iterations).as_nanos()
        );
    });
}
