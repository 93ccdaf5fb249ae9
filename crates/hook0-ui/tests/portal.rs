//! The consumer portal's pages through the router, on a real SQLite store: the scope (another
//! customer's endpoint is not found), controls only for granted capabilities, escaping, forms
//! that work without JavaScript, the headers (framing by the allowed origins only, no
//! referrer, no cache), and links that expired or were revoked.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use hook0_api::{ApiConfig, AppState};
use hook0_store::sqlite::SqliteStore;
use hook0_store::StoreOptions;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

const ORIGIN: &str = "http://hook0.test";
const HOST_PAGE: &str = "http://shop.test:3000";

struct Portal {
    router: Router,
    api: Router,
    master: Uuid,
    application_id: String,
    ours: String,
    theirs: String,
    _dir: tempfile::TempDir,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

async fn call(p: &Portal, method: Method, path: &str, body: Value) -> Value {
    let request = Request::builder()
        .method(method)
        .uri(format!("/api/v1{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", p.master))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = p.api.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(status.is_success(), "{path}: {status} {bytes:?}");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// An application with customers `acme` (an endpoint with a hostile description) and
/// `globex` (one endpoint).
async fn portal() -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hook0.db");
    let store = SqliteStore::open(path.to_str().unwrap(), &StoreOptions::default())
        .await
        .unwrap();
    let master = Uuid::new_v4();
    let state = AppState {
        store: Arc::new(store),
        config: Arc::new(ApiConfig {
            app_url: ORIGIN.into(),
            master_api_key: Some(master),
            ..ApiConfig::default()
        }),
    };
    let api = hook0_api::router(state);
    let router = hook0_ui::router(
        api.clone(),
        hook0_ui::UiConfig {
            app_url: ORIGIN.into(),
            registration_open: true,
            password_minimum_length: 12,
        },
    );
    let mut p = Portal {
        router,
        api,
        master,
        application_id: String::new(),
        ours: String::new(),
        theirs: String::new(),
        _dir: dir,
    };
    let org = call(
        &p,
        Method::POST,
        "/organizations",
        json!({ "name": "Shop" }),
    )
    .await;
    let app = call(
        &p,
        Method::POST,
        "/applications",
        json!({ "organization_id": org["organization_id"], "name": "Shop <b>Inc</b>" }),
    )
    .await;
    p.application_id = app["application_id"].as_str().unwrap().to_owned();
    call(
        &p,
        Method::POST,
        "/event_types",
        json!({ "application_id": p.application_id, "service": "billing", "resource_type": "invoice", "verb": "paid" }),
    )
    .await;
    for (tenant, description) in [
        ("acme", "<script>alert(1)</script>"),
        ("globex", "globex-ledger"),
    ] {
        let sub = call(
            &p,
            Method::POST,
            "/subscriptions",
            json!({
                "application_id": p.application_id, "is_enabled": true,
                "event_types": ["billing.invoice.paid"], "description": description,
                "labels": { "tenant": tenant },
                "target": { "type": "http", "method": "POST", "url": format!("https://{tenant}.example/hook"), "headers": {} },
            }),
        )
        .await;
        let id = sub["subscription_id"].as_str().unwrap().to_owned();
        if tenant == "acme" {
            p.ours = id;
        } else {
            p.theirs = id;
        }
    }
    p
}

/// Mints a session of `acme`; its portal path (`/portal/<secret>`).
async fn mint(p: &Portal, capabilities: &[&str]) -> String {
    let session = call(
        p,
        Method::POST,
        "/portal_sessions",
        json!({
            "application_id": p.application_id,
            "labels": { "tenant": "acme" },
            "capabilities": capabilities,
            "allowed_origins": [HOST_PAGE],
            "theme": { "accent": "#0a7", "mode": "dark" },
        }),
    )
    .await;
    let url = session["url"].as_str().unwrap();
    url.strip_prefix(ORIGIN).unwrap().to_owned()
}

async fn get(p: &Portal, path: &str) -> Page {
    send(p, Request::get(path), Body::empty()).await
}

async fn post(p: &Portal, path: &str, form: &str, origin: &str) -> Page {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, origin);
    send(p, request, Body::from(form.to_owned())).await
}

async fn send(p: &Portal, request: axum::http::request::Builder, body: Body) -> Page {
    let request = request
        .header(header::HOST, "hook0.test")
        .body(body)
        .unwrap();
    let response = p.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    Page {
        status,
        headers,
        html: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn a_read_only_session_sees_its_scope_escaped_with_no_controls_and_framable_by_its_host() {
    let p = portal().await;
    let base = mint(&p, &["view"]).await;

    let home = get(&p, &base).await;
    assert_eq!(home.status, 200, "{}", home.html);
    assert!(home
        .html
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!home.html.contains("<script>alert"), "escaped");
    assert!(home.html.contains("Shop &#60;b&#62;Inc&#60;/b&#62;"));
    assert!(
        !home.html.contains("globex"),
        "another customer's endpoint is not listed"
    );
    assert!(
        !home.html.contains("Add an endpoint"),
        "no control without manage_subscriptions"
    );
    assert!(home.html.contains(r#"data-theme="dark""#));
    assert!(home.html.contains(&format!("{base}/theme.css")));

    let csp = home.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains(&format!("frame-ancestors {HOST_PAGE}")),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(home.header(header::REFERRER_POLICY), "no-referrer");
    assert_eq!(home.header(header::CACHE_CONTROL), "no-store");
    assert!(home.headers.get(header::X_FRAME_OPTIONS).is_none());

    let ours = get(&p, &format!("{base}/subscriptions/{}", p.ours)).await;
    assert_eq!(ours.status, 200);
    for absent in [
        "Delete",
        "Reveal the signing secret",
        "Rotate the secret",
        "Send a test event",
        "Edit",
    ] {
        assert!(
            !ours.html.contains(absent),
            "{absent} shown to a read-only session"
        );
    }
    assert!(ours.html.contains(r#"<label for="status">Status</label>"#));
    let theirs = get(&p, &format!("{base}/subscriptions/{}", p.theirs)).await;
    assert_eq!(theirs.status, 404);
    assert!(!theirs.html.contains("globex"));
    // A refused action changes nothing, even posted by hand.
    let deleted = post(
        &p,
        &format!("{base}/subscriptions/{}/delete", p.ours),
        "",
        ORIGIN,
    )
    .await;
    assert!(deleted.html.contains("Forbidden"), "{}", deleted.html);
    assert_eq!(
        get(&p, &format!("{base}/subscriptions/{}", p.ours))
            .await
            .status,
        200
    );

    let theme = get(&p, &format!("{base}/theme.css")).await;
    assert!(theme.html.contains("background: #0a7"), "{}", theme.html);
}

#[tokio::test]
async fn a_manager_adds_edits_reveals_and_deletes_an_endpoint_by_form() {
    let p = portal().await;
    let base = mint(
        &p,
        &["manage_subscriptions", "view_secret", "rotate_secret"],
    )
    .await;

    let form = get(&p, &format!("{base}/subscriptions/new")).await;
    for label in [
        r#"<label for="url">Endpoint URL</label>"#,
        r#"<label for="method">HTTP method</label>"#,
        "<legend>Event types</legend>",
    ] {
        assert!(form.html.contains(label), "{label}");
    }
    let refused = post(
        &p,
        &format!("{base}/subscriptions"),
        "url=not-a-url&method=POST&event_types=billing.invoice.paid",
        ORIGIN,
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(refused.html.contains(r#"role="alert""#));
    assert!(
        refused.html.contains(r#"value="not-a-url""#),
        "what was typed is kept"
    );

    let forged = post(
        &p,
        &format!("{base}/subscriptions"),
        "url=https%3A%2F%2Fevil.example&method=POST&event_types=billing.invoice.paid",
        "http://evil.test",
    )
    .await;
    assert_eq!(forged.status, 403);

    let created = post(&p, &format!("{base}/subscriptions"), "url=https%3A%2F%2Facme.example%2Fnew&method=POST&event_types=billing.invoice.paid&description=New+one", ORIGIN).await;
    assert_eq!(created.status, 303, "{}", created.html);
    let location = created.header(header::LOCATION).to_owned();
    assert!(
        location.starts_with(&format!("{base}/subscriptions/")),
        "{location}"
    );
    let page = get(&p, &location).await;
    assert!(page.html.contains("https://acme.example/new"));
    let id = location.rsplit('/').next().unwrap().to_owned();

    let edited = post(
        &p,
        &format!("{base}/subscriptions/{id}/edit"),
        "url=https%3A%2F%2Facme.example%2Fmoved&method=PUT&event_types=billing.invoice.paid",
        ORIGIN,
    )
    .await;
    assert_eq!(edited.status, 303);
    assert!(get(&p, &location)
        .await
        .html
        .contains("PUT https://acme.example/moved"));

    let revealed = post(&p, &format!("{base}/subscriptions/{id}/secret"), "", ORIGIN).await;
    assert_eq!(revealed.status, 200);
    assert!(revealed.html.contains(r#"<code id="secret">"#));
    let before = revealed
        .html
        .split(r#"<code id="secret">"#)
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let rotated = post(&p, &format!("{base}/subscriptions/{id}/rotate"), "", ORIGIN).await;
    assert!(rotated.html.contains("New secret in use"));
    assert!(!rotated.html.contains(&before), "the old secret is gone");

    let disabled = post(
        &p,
        &format!("{base}/subscriptions/{id}/state"),
        "enabled=false",
        ORIGIN,
    )
    .await;
    assert_eq!(disabled.status, 303, "a reload must not post again");
    let after = get(&p, disabled.header(header::LOCATION)).await;
    assert!(after.html.contains("Endpoint disabled"));
    assert!(after.html.contains(">Enable</button>"));
    let deleted = post(&p, &format!("{base}/subscriptions/{id}/delete"), "", ORIGIN).await;
    assert_eq!(deleted.status, 303);
    assert_eq!(get(&p, &location).await.status, 404);
}

#[tokio::test]
async fn a_revoked_or_unknown_link_says_so_wherever_it_is_framed() {
    let p = portal().await;
    let base = mint(&p, &["view"]).await;
    let sessions = call(
        &p,
        Method::GET,
        &format!("/portal_sessions?application_id={}", p.application_id),
        Value::Null,
    )
    .await;
    let id = sessions[0]["portal_session_id"].as_str().unwrap();
    let request = Request::delete(format!("/api/v1/portal_sessions/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", p.master))
        .body(Body::empty())
        .unwrap();
    assert_eq!(p.api.clone().oneshot(request).await.unwrap().status(), 204);

    let revoked = get(&p, &base).await;
    assert_eq!(revoked.status, 403);
    assert!(
        revoked.html.contains("This link was revoked"),
        "{}",
        revoked.html
    );
    assert!(revoked
        .header(header::CONTENT_SECURITY_POLICY)
        .contains("frame-ancestors *"));
    let unknown = get(
        &p,
        "/portal/h0portal_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .await;
    assert!(unknown.html.contains("This link is not valid"));
}
