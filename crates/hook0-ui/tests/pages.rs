//! Every page through the router, on a real SQLite store: status, labels, escaping of hostile
//! names, CSRF and Origin refusals, an editor's and a viewer's controls, another tenant's
//! pages refused like the API refuses them, and the security headers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use hook0_api::{ApiConfig, AppState};
use hook0_store::sqlite::SqliteStore;
use hook0_store::{Store, StoreOptions};
use serde_json::{json, Value};
use tower::ServiceExt;

const PASSWORD: &str = "correct-zebra-staple-42";
const ORIGIN: &str = "http://hook0.test";

struct Ui {
    router: Router,
    api: Router,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

/// A browser: its cookies.
#[derive(Default, Clone)]
struct Browser {
    cookies: Vec<(String, String)>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    headers: axum::http::HeaderMap,
    html: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, headers: &axum::http::HeaderMap) {
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "hook0_csrf")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    async fn send(&mut self, ui: &Ui, request: axum::http::request::Builder, body: Body) -> Page {
        let request = request
            .header(header::COOKIE, self.cookie_header())
            .header(header::HOST, "hook0.test")
            .body(body)
            .unwrap();
        let response = ui.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        self.keep(&headers);
        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        Page {
            status,
            location,
            headers,
            html: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&mut self, ui: &Ui, path: &str) -> Page {
        self.send(ui, Request::get(path), Body::empty()).await
    }

    async fn post(&mut self, ui: &Ui, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(ui, path, form, Some(ORIGIN)).await
    }

    async fn post_from(
        &mut self,
        ui: &Ui,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        self.send(ui, request, Body::from(body)).await
    }

    /// Signs in through the login page.
    async fn sign_in(&mut self, ui: &Ui, email: &str) {
        self.get(ui, "/login").await;
        let csrf = self.csrf();
        let page = self
            .post(
                ui,
                "/login",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    }

    /// Creates an application from its organization's dashboard; its pages' base path.
    async fn create_app(&mut self, ui: &Ui, org: &str, name: &str) -> String {
        let csrf = self.csrf();
        let created = self
            .post(
                ui,
                &format!("/organizations/{org}/applications"),
                &[("csrf", &csrf), ("name", name)],
            )
            .await;
        created
            .location
            .unwrap_or_else(|| panic!("no application created: {}", created.html))
            .trim_end_matches("/dashboard")
            .to_owned()
    }

    /// Creates the event type `billing.invoice.paid` from the application's page.
    async fn create_event_type(&mut self, ui: &Ui, base: &str) -> Page {
        let csrf = self.csrf();
        self.post(
            ui,
            &format!("{base}/event_types"),
            &[
                ("csrf", &csrf),
                ("service", "billing"),
                ("resource_type", "invoice"),
                ("verb", "paid"),
            ],
        )
        .await
    }

    /// Creates a subscription to `https://example.com/hook` for `billing.invoice.paid` with
    /// the label `tenant=acme`, and the `extra` fields.
    async fn create_subscription(&mut self, ui: &Ui, base: &str, extra: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("url", "https://example.com/hook"),
            ("method", "POST"),
            ("event_types", "billing.invoice.paid"),
            ("labels", "tenant=acme"),
        ];
        form.extend_from_slice(extra);
        self.post(ui, &format!("{base}/subscriptions"), &form).await
    }

    /// The session's access token (a Biscuit), to call the API as this user.
    fn access_token(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "hook0_access")
            .map(|(_, v)| v.clone())
            .expect("signed in")
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn ui() -> Ui {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hook0.db");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(path.to_str().unwrap(), &StoreOptions::default())
            .await
            .unwrap(),
    );
    let state = AppState {
        store: store.clone(),
        config: Arc::new(ApiConfig {
            app_url: ORIGIN.into(),
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
    Ui {
        router,
        api,
        store,
        _dir: dir,
    }
}

/// Registers a user through the API and marks it verified.
async fn user(ui: &Ui, email: &str, first_name: &str) -> Value {
    let request = Request::post("/api/v1/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "first_name": first_name, "last_name": "Tester", "email": email, "password": PASSWORD })
                .to_string(),
        ))
        .unwrap();
    let response = ui.api.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let registered: Value = serde_json::from_slice(&bytes).unwrap();
    let id = registered["user_id"].as_str().unwrap().parse().unwrap();
    ui.store
        .verify_user_email(id, hook0_core::model::now())
        .await
        .unwrap();
    registered
}

/// Ingests a `billing.invoice.paid` event carrying `labels` through the API, as `access`.
async fn ingest(ui: &Ui, access: &str, app_id: &str, labels: Value) {
    let request = Request::post("/api/v1/event")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Body::from(
            json!({ "application_id": app_id, "event_type": "billing.invoice.paid", "payload": "{}",
                "payload_content_type": "application/json", "labels": labels,
                "occurred_at": "2026-01-01T00:00:00Z" })
            .to_string(),
        ))
        .unwrap();
    assert_eq!(ui.api.clone().oneshot(request).await.unwrap().status(), 201);
}

/// Ada, signed in as the editor of her organization's application `Billing`: her browser,
/// the organization's id and the application's base path.
async fn ada_in_billing(ui: &Ui) -> (Browser, String, String) {
    let ada = user(ui, "ada@example.com", "Ada").await;
    let org = org_of(&ada);
    let mut editor = Browser::default();
    editor.sign_in(ui, "ada@example.com").await;
    let base = editor.create_app(ui, &org, "Billing").await;
    (editor, org, base)
}

fn org_of(registered: &Value) -> String {
    registered["organization_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_login_page_is_labelled_protected_and_refuses_forged_forms() {
    let ui = ui().await;
    let mut browser = Browser::default();
    let page = browser.get(&ui, "/login").await;
    assert_eq!(page.status, 200);
    for needle in [
        r#"<label for="email">Email</label>"#,
        r#"<label for="password">Password</label>"#,
        "Create an account",
    ] {
        assert!(page.html.contains(needle), "{needle}");
    }
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let csrf_cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));

    user(&ui, "ada@example.com", "Ada").await;
    let csrf = browser.csrf();
    // No token, a wrong token, or another origin: refused, nobody signed in.
    for (token, origin) in [
        ("", Some(ORIGIN)),
        ("0".repeat(64).as_str(), Some(ORIGIN)),
        (csrf.as_str(), Some("https://evil.example")),
    ] {
        let page = browser
            .post_from(
                &ui,
                "/login",
                &[
                    ("csrf", token),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                ],
                origin,
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{token} {origin:?}");
        assert!(!browser.cookies.iter().any(|(k, _)| k == "hook0_access"));
    }
    // A wrong password is told, the email kept and escaped.
    let page = browser
        .post(
            &ui,
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com\"><b>"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.html.contains(r#"role="alert""#) && page.html.contains("Login failed"));
    assert!(
        page.html.contains("ada@example.com&#34;&#62;&#60;b&#62;"),
        "{}",
        page.html
    );
    // The right one signs in, with HttpOnly session cookies.
    let page = browser
        .post(
            &ui,
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/organizations"));
    let cookies: Vec<&str> = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax")),
        "{cookies:?}"
    );
}

#[tokio::test]
async fn an_editor_creates_and_a_viewer_only_reads_and_names_are_escaped() {
    let ui = ui().await;
    let ada = user(&ui, "ada@example.com", "Ada").await;
    let org = org_of(&ada);
    user(&ui, "vic@example.com", "Vic").await;
    let mut editor = Browser::default();
    editor.sign_in(&ui, "ada@example.com").await;

    let hostile = r#"<script>alert(1)</script>"&'"#;
    let csrf = editor.csrf();
    let page = editor
        .post(
            &ui,
            &format!("/organizations/{org}/applications"),
            &[("csrf", &csrf), ("name", hostile)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let app_page = page.location.unwrap();
    let page = editor.get(&ui, &app_page).await;
    assert_eq!(page.status, 200);
    assert!(!page.html.contains("<script>alert(1)"), "unescaped name");
    assert!(
        page.html
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#38;&#39;"),
        "{}",
        page.html
    );
    let dashboard = editor
        .get(&ui, &format!("/organizations/{org}/dashboard"))
        .await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard
        .html
        .contains(r#"<label for="app-name">Application name</label>"#));
    assert!(dashboard.html.contains("Events per day, last 30 days"));
    assert!(dashboard.html.contains("Deliveries per day, last 30 days"));
    assert!(
        dashboard.html.contains("No event in the last 30 days yet."),
        "an empty chart says so instead of drawing an empty frame"
    );

    // Invite Vic as a viewer (through the API, as the editor would).
    let request = Request::post(format!("/api/v1/organizations/{org}/invite"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::AUTHORIZATION,
            format!(
                "Bearer {}",
                editor
                    .cookies
                    .iter()
                    .find(|(k, _)| k == "hook0_access")
                    .unwrap()
                    .1
            ),
        )
        .body(Body::from(
            json!({ "email": "vic@example.com", "role": "viewer" }).to_string(),
        ))
        .unwrap();
    assert_eq!(ui.api.clone().oneshot(request).await.unwrap().status(), 200);
    let mut viewer = Browser::default();
    viewer.sign_in(&ui, "vic@example.com").await;
    let page = viewer
        .get(&ui, &format!("/organizations/{org}/dashboard"))
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("viewer"));
    assert!(
        !page.html.contains("Create application"),
        "a viewer sees no control that changes anything"
    );
    // And cannot post the form anyway: the API refuses it.
    let csrf = viewer.csrf();
    let page = viewer
        .post(
            &ui,
            &format!("/organizations/{org}/applications"),
            &[("csrf", &csrf), ("name", "Sneaky")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenants_pages_are_refused_and_signed_out_visits_go_to_login() {
    let ui = ui().await;
    let ada = user(&ui, "ada@example.com", "Ada").await;
    let bob = user(&ui, "bob@example.com", "Bob").await;
    let mut browser = Browser::default();
    let page = browser
        .get(&ui, &format!("/organizations/{}/dashboard", org_of(&ada)))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/login"));

    browser.sign_in(&ui, "bob@example.com").await;
    let own = browser
        .get(&ui, &format!("/organizations/{}/dashboard", org_of(&bob)))
        .await;
    assert_eq!(own.status, 200);
    let foreign = browser
        .get(&ui, &format!("/organizations/{}/dashboard", org_of(&ada)))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert!(!foreign.html.contains("Ada"), "nothing of the other tenant");
    let garbage = browser
        .get(&ui, "/organizations/not-a-uuid/dashboard")
        .await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);

    // Logging out ends the session: the API refuses its tokens afterwards.
    let csrf = browser.csrf();
    let access = browser.access_token();
    let page = browser.post(&ui, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.location.as_deref(), Some("/login"));
    assert!(!browser.cookies.iter().any(|(k, _)| k == "hook0_access"));
    let request = Request::get("/api/v1/organizations")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(ui.api.clone().oneshot(request).await.unwrap().status(), 403);
}

#[tokio::test]
async fn registering_signs_the_first_user_in_and_shows_problems_inline() {
    let ui = ui().await;
    let mut browser = Browser::default();
    let page = browser.get(&ui, "/register").await;
    assert_eq!(page.status, 200);
    let csrf = browser.csrf();
    let weak = browser
        .post(
            &ui,
            "/register",
            &[
                ("csrf", &csrf),
                ("first_name", "Ada"),
                ("last_name", "L"),
                ("email", "ada@example.com"),
                ("password", "password1234"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.html.contains(r#"role="alert""#), "{}", weak.html);
    assert!(
        weak.html.contains(r#"value="ada@example.com""#),
        "what was typed is kept"
    );
    let page = browser
        .post(
            &ui,
            "/register",
            &[
                ("csrf", &csrf),
                ("first_name", "Ada"),
                ("last_name", "L"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let list = browser.get(&ui, "/organizations").await;
    assert_eq!(list.status, 200);
    assert!(
        list.html.contains("Ada L&#39;s personal organization"),
        "{}",
        list.html
    );
}

#[tokio::test]
async fn static_files_are_served_with_their_types() {
    let ui = ui().await;
    let mut browser = Browser::default();
    let css = browser.get(&ui, "/static/hook0.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.html.contains("prefers-color-scheme: dark"));
    let js = browser.get(&ui, "/static/hook0.js").await;
    assert!(js.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

#[tokio::test]
async fn event_types_subscriptions_and_test_events_for_an_editor_and_a_viewer() {
    let ui = ui().await;
    let ada = user(&ui, "ada@example.com", "Ada").await;
    let org = org_of(&ada);
    user(&ui, "vic@example.com", "Vic").await;
    let mut editor = Browser::default();
    editor.sign_in(&ui, "ada@example.com").await;
    let csrf = editor.csrf();
    let base = editor.create_app(&ui, &org, "Billing").await;

    let page = editor.create_event_type(&ui, &base).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let refused = editor
        .post(
            &ui,
            &format!("{base}/event_types"),
            &[
                ("csrf", &csrf),
                ("service", "caf\u{e9}"),
                ("resource_type", "invoice"),
                ("verb", "paid"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains(r#"role="alert""#));

    let page = editor
        .create_subscription(
            &ui,
            &base,
            &[
                ("headers", "X-Api-Key: s3cret"),
                ("description", "<img src=x onerror=alert(1)>"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let sub_path = page.location.unwrap();
    let detail = editor.get(&ui, &sub_path).await;
    assert_eq!(detail.status, 200);
    assert!(!detail.html.contains("<img src=x"), "unescaped description");
    assert!(detail.html.contains("&#60;img src=x onerror=alert(1)&#62;"));
    assert!(detail.html.contains("Signing secret") && detail.html.contains("s3cret"));
    assert!(detail.html.contains(">Disable</button>"));
    // A forged state change is refused and changes nothing.
    let forged = editor
        .post(
            &ui,
            &format!("{sub_path}/state"),
            &[("csrf", "nope"), ("enabled", "false")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let disabled = editor
        .post(
            &ui,
            &format!("{sub_path}/state"),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert!(editor
        .get(&ui, &sub_path)
        .await
        .html
        .contains(">Enable</button>"));
    editor
        .post(
            &ui,
            &format!("{sub_path}/state"),
            &[("csrf", &csrf), ("enabled", "true")],
        )
        .await;

    // A test event: a bad payload is told, a good one is stored.
    let bad = editor
        .post(
            &ui,
            &format!("{base}/send"),
            &[
                ("csrf", &csrf),
                ("event_type", "billing.invoice.paid"),
                ("labels", "tenant=acme"),
                ("payload", "{oops"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("not valid JSON"));
    let sent = editor
        .post(
            &ui,
            &format!("{base}/send"),
            &[
                ("csrf", &csrf),
                ("event_type", "billing.invoice.paid"),
                ("labels", "tenant=acme"),
                ("payload", r#"{"a":1}"#),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.html);
    assert!(
        sent.html.contains("goes to 1 subscription(s)"),
        "{}",
        sent.html
    );

    // Vic, a viewer: every page, no control, no secret.
    let access = editor.access_token();
    let invite = Request::post(format!("/api/v1/organizations/{org}/invite"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Body::from(
            json!({ "email": "vic@example.com", "role": "viewer" }).to_string(),
        ))
        .unwrap();
    assert_eq!(ui.api.clone().oneshot(invite).await.unwrap().status(), 200);
    let mut viewer = Browser::default();
    viewer.sign_in(&ui, "vic@example.com").await;
    for path in [
        format!("{base}/dashboard"),
        format!("{base}/event_types"),
        format!("{base}/subscriptions"),
        sub_path.clone(),
        format!("{base}/send"),
    ] {
        let page = viewer.get(&ui, &path).await;
        assert_eq!(page.status, 200, "{path}");
        for control in [
            "Create event type",
            "Create subscription",
            "Deactivate",
            ">Disable<",
            "Delete",
            "Signing secret",
            "Send event",
        ] {
            assert!(
                !page.html.contains(control),
                "{path} shows {control} to a viewer"
            );
        }
        assert!(
            !page.html.contains("s3cret"),
            "{path} shows a header value to a viewer"
        );
    }
}

#[tokio::test]
async fn events_and_the_delivery_log_show_payloads_and_keep_filters_clean() {
    let ui = ui().await;
    let (mut editor, _, base) = ada_in_billing(&ui).await;
    let app_id = base.rsplit('/').next().unwrap().to_owned();
    editor.create_event_type(&ui, &base).await;
    editor.create_subscription(&ui, &base, &[]).await;
    // A binary payload, through the API (no worker runs here: attempts stay pending).
    let access = editor.access_token();
    let ingest = Request::post("/api/v1/event")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Body::from(
            json!({ "application_id": app_id, "event_type": "billing.invoice.paid", "payload": "/wBB",
                "payload_content_type": "application/octet-stream+base64", "labels": { "tenant": "acme" },
                "occurred_at": "2026-01-01T00:00:00Z" })
            .to_string(),
        ))
        .unwrap();
    let response = ui.api.clone().oneshot(ingest).await.unwrap();
    assert_eq!(response.status(), 201);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let event: Value = serde_json::from_slice(&bytes).unwrap();
    let event_id = event["event_id"].as_str().unwrap();

    let list = editor.get(&ui, &format!("{base}/events")).await;
    assert_eq!(list.status, 200);
    assert!(list.html.contains(event_id));
    let detail = editor.get(&ui, &format!("{base}/events/{event_id}")).await;
    assert_eq!(detail.status, 200);
    assert!(
        detail.html.contains("00000000  ff 00 41"),
        "a binary payload in hex: {}",
        detail.html
    );
    assert!(detail.html.contains(">hex<"));
    assert!(detail.html.contains("pending"));

    let log = editor
        .get(&ui, &format!("{base}/logs?status=pending"))
        .await;
    assert_eq!(log.status, 200);
    assert_eq!(log.html.matches("aria-label=\"Attempt ").count(), 1);
    assert!(log.html.contains(r#"<option value="pending" selected>"#));
    // The attempt's page tells the request it sends: method, URL and the headers Hook0 adds.
    let attempt_id = log
        .html
        .split(&format!("href=\"{base}/logs/"))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the attempt")
        .to_owned();
    let attempt = editor.get(&ui, &format!("{base}/logs/{attempt_id}")).await;
    assert_eq!(attempt.status, 200);
    for told in [
        "POST https://example.com/hook",
        "X-Event-Type: billing.invoice.paid",
        "Content-Type: application/octet-stream",
        "X-Hook0-Signature: t=&#60;unix time&#62;",
    ] {
        assert!(attempt.html.contains(told), "{told}: {}", attempt.html);
    }
    let none = editor
        .get(&ui, &format!("{base}/logs?status=successful"))
        .await;
    assert!(none.html.contains("No delivery attempt."));
    // Hostile or unknown filter values never reach the page or the API.
    let odd = editor
        .get(
            &ui,
            &format!("{base}/logs?status=evil&event_type=%3Cscript%3E&from=2026-01-01%22%3E"),
        )
        .await;
    assert_eq!(odd.status, 200);
    assert!(!odd.html.contains("<script>") && !odd.html.contains("evil"));
    assert!(odd.html.contains(r#"value="2026-01-01""#));
    // Another application's event is not found through this one.
    let foreign = editor
        .get(
            &ui,
            &format!("{base}/events/00000000-0000-0000-0000-000000000001"),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_keys_and_members_are_for_editors() {
    let ui = ui().await;
    let ada = user(&ui, "ada@example.com", "Ada").await;
    let org = org_of(&ada);
    user(&ui, "vic@example.com", "Vic").await;
    let mut editor = Browser::default();
    editor.sign_in(&ui, "ada@example.com").await;
    let csrf = editor.csrf();
    let base = editor.create_app(&ui, &org, "Billing").await;

    let page = editor
        .post(
            &ui,
            &format!("{base}/application_secrets"),
            &[("csrf", &csrf), ("name", "<ci>")],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.html
            .contains("API key <strong>&#60;ci&#62;</strong> created"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Delete the API key &#60;ci&#62;"));

    let members = format!("/organizations/{org}/members");
    let invited = editor
        .post(
            &ui,
            &members,
            &[
                ("csrf", &csrf),
                ("email", "vic@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.html);
    assert!(invited.html.contains("vic@example.com") && invited.html.contains("Invited."));
    let unknown = editor
        .post(
            &ui,
            &members,
            &[
                ("csrf", &csrf),
                ("email", "nobody@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains(r#"role="alert""#));
    // The last editor cannot leave: the API's problem is shown.
    let leave = editor
        .post(
            &ui,
            &format!("{members}/remove"),
            &[
                ("csrf", &csrf),
                ("user_id", ada["user_id"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(leave.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(leave.html.contains("last editor"), "{}", leave.html);

    let mut viewer = Browser::default();
    viewer.sign_in(&ui, "vic@example.com").await;
    let keys = viewer
        .get(&ui, &format!("{base}/application_secrets"))
        .await;
    assert_eq!(keys.status, 200);
    assert!(keys
        .html
        .contains("Only the organization's editors see and manage API keys."));
    assert!(!keys.html.contains("Create API key"));
    let list = viewer.get(&ui, &members).await;
    assert!(list.html.contains("ada@example.com") && !list.html.contains("Invite"));
    let csrf = viewer.csrf();
    let refused = viewer
        .post(
            &ui,
            &members,
            &[
                ("csrf", &csrf),
                ("email", "vic@example.com"),
                ("role", "editor"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "the API refuses a viewer's invitation"
    );
}

#[tokio::test]
async fn mailed_links_and_the_password_change_have_pages() {
    let ui = ui().await;
    user(&ui, "ada@example.com", "Ada").await;
    let mut anonymous = Browser::default();
    let login = anonymous.get(&ui, "/login").await;
    assert!(login.html.contains(r#"href="/begin-reset-password""#));

    // Links with a bad or stale token say so, without signing anyone in.
    let verify = anonymous.get(&ui, "/verify-email?token=garbage").await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST);
    assert!(verify.html.contains(r#"role="alert""#));
    assert!(!anonymous.cookies.iter().any(|(k, _)| k == "hook0_access"));
    let form = anonymous
        .get(&ui, "/reset-password?token=abc%22%3E%3Cscript%3E")
        .await;
    assert_eq!(form.status, 200);
    assert!(
        form.html
            .contains(r#"value="abc&#34;&#62;&#60;script&#62;""#),
        "the token is escaped"
    );
    let csrf = anonymous.csrf();
    let reset = anonymous
        .post(
            &ui,
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", "garbage"),
                ("new_password", "Brand-new-Passw0rd!"),
            ],
        )
        .await;
    assert_eq!(reset.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reset.html.contains(r#"role="alert""#));
    // Asking for a link answers the same for any address.
    let known = anonymous
        .post(
            &ui,
            "/begin-reset-password",
            &[("csrf", &csrf), ("email", "ada@example.com")],
        )
        .await;
    let unknown = anonymous
        .post(
            &ui,
            "/begin-reset-password",
            &[("csrf", &csrf), ("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(
        (known.status, unknown.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert!(
        known.html.contains("If an account has this address")
            && unknown.html.contains("If an account has this address")
    );

    // Changing the password needs the current one.
    let mut browser = Browser::default();
    browser.sign_in(&ui, "ada@example.com").await;
    let settings = browser.get(&ui, "/settings").await;
    assert_eq!(settings.status, 200);
    assert!(settings
        .html
        .contains(r#"<label for="current_password">Current password</label>"#));
    let csrf = browser.csrf();
    let wrong = browser
        .post(
            &ui,
            "/settings/password",
            &[
                ("csrf", &csrf),
                ("current_password", "nope"),
                ("new_password", "Brand-new-Passw0rd!"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.html.contains("Login failed"), "{}", wrong.html);
    let right = browser
        .post(
            &ui,
            "/settings/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", "Brand-new-Passw0rd!"),
            ],
        )
        .await;
    assert_eq!(right.status, 200, "{}", right.html);
    assert!(right.html.contains("Your password is changed"));
    assert_eq!(
        browser.get(&ui, "/organizations").await.status,
        200,
        "this session goes on"
    );
}

#[tokio::test]
async fn subscriptions_are_edited_signed_and_rotated_and_applications_renamed_and_deleted() {
    let ui = ui().await;
    let (mut editor, _, base) = ada_in_billing(&ui).await;
    let csrf = editor.csrf();
    editor.create_event_type(&ui, &base).await;
    let sub = editor
        .post(
            &ui,
            &format!("{base}/subscriptions"),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/hook"),
                ("method", "POST"),
                ("event_types", "billing.invoice.paid"),
                ("labels", "tenant=acme"),
                ("headers", "X-Key: k1"),
            ],
        )
        .await
        .location
        .unwrap();

    let form = editor.get(&ui, &format!("{sub}/edit")).await;
    assert_eq!(form.status, 200);
    assert!(
        form.html.contains(r#"value="https://example.com/hook""#)
            && form.html.contains("tenant=acme")
            && form.html.contains("X-Key: k1")
    );
    let saved = editor
        .post(
            &ui,
            &format!("{sub}/edit"),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/v2"),
                ("method", "PUT"),
                ("event_types", "billing.invoice.paid"),
                ("labels", "tenant=acme\nregion=eu"),
                ("headers", ""),
                ("description", "Second version"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let page = editor.get(&ui, &sub).await;
    assert!(
        page.html.contains("PUT https://example.com/v2")
            && page.html.contains("region=eu")
            && page.html.contains("Second version")
    );
    let bad = editor
        .post(
            &ui,
            &format!("{sub}/edit"),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/v3"),
                ("method", "POST"),
                ("labels", "tenant=acme"),
                ("headers", "Content-Length: 0"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.html.contains(r#"role="alert""#) && bad.html.contains("https://example.com/v3"),
        "what was typed is kept"
    );

    // Standard Webhooks: on, then a rotation lists both secrets.
    editor
        .post(
            &ui,
            &format!("{sub}/signing"),
            &[("csrf", &csrf), ("standard_webhooks", "true")],
        )
        .await;
    let signed = editor.get(&ui, &sub).await;
    assert!(signed.html.contains("Current secret") && signed.html.contains("whsec_"));
    let rotated = editor
        .post(&ui, &format!("{sub}/rotate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, 200);
    assert!(
        rotated.html.contains("Previous secret, signing until"),
        "{}",
        rotated.html
    );
    assert_eq!(rotated.html.matches("whsec_").count(), 2);

    // The application: renamed with a retention, then deleted.
    let saved = editor
        .post(
            &ui,
            &format!("{base}/settings"),
            &[
                ("csrf", &csrf),
                ("name", "Invoices"),
                ("retention_days", "14"),
            ],
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.html);
    assert!(saved.html.contains("Saved.") && saved.html.contains(r#"value="14""#));
    let deleted = editor
        .post(&ui, &format!("{base}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        editor.get(&ui, &format!("{base}/dashboard")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_organization_is_renamed_and_only_deleted_when_empty() {
    let ui = ui().await;
    let ada = user(&ui, "ada@example.com", "Ada").await;
    let org = org_of(&ada);
    let mut editor = Browser::default();
    editor.sign_in(&ui, "ada@example.com").await;
    let csrf = editor.csrf();
    let settings = format!("/organizations/{org}/settings");
    let page = editor
        .post(&ui, &settings, &[("csrf", &csrf), ("name", "Acme <Corp>")])
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Renamed.") && page.html.contains("Acme &#60;Corp&#62;"));
    let app = editor
        .post(
            &ui,
            &format!("/organizations/{org}/applications"),
            &[("csrf", &csrf), ("name", "Billing")],
        )
        .await;
    let app_dashboard = editor.get(&ui, &app.location.unwrap()).await;
    assert!(app_dashboard.html.contains("What Hook0 reported"));
    assert!(app_dashboard.html.contains(
        "Deliveries per day, last 30 days: 0 succeeded, 0 failed (no finished delivery)"
    ));
    let refused = editor
        .post(
            &ui,
            &format!("/organizations/{org}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains(r#"role="alert""#));
    // An empty one goes.
    let created = editor
        .post(&ui, "/organizations", &[("csrf", &csrf), ("name", "Spare")])
        .await;
    let spare = created.location.unwrap().replace("/dashboard", "");
    let deleted = editor
        .post(&ui, &format!("{spare}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.location.as_deref(), Some("/organizations"));
    assert!(!editor
        .get(&ui, "/organizations")
        .await
        .html
        .contains("Spare"));
}

#[tokio::test]
async fn keys_and_tokens_are_renamed_and_subscriptions_keep_metadata() {
    let ui = ui().await;
    let (mut editor, org, base) = ada_in_billing(&ui).await;
    let csrf = editor.csrf();

    let keys = editor
        .get(&ui, &format!("{base}/application_secrets"))
        .await;
    let token = keys
        .html
        .split("name=\"token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let renamed = editor
        .post(
            &ui,
            &format!("{base}/application_secrets/rename"),
            &[("csrf", &csrf), ("token", &token), ("name", "production")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.html);
    assert!(editor
        .get(&ui, &format!("{base}/application_secrets"))
        .await
        .html
        .contains("<td>production</td>"));

    let tokens = format!("/organizations/{org}/service_tokens");
    editor
        .post(&ui, &tokens, &[("csrf", &csrf), ("name", "deploys")])
        .await;
    let page = editor.get(&ui, &tokens).await;
    let id = page
        .html
        .split("name=\"token_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let renamed = editor
        .post(
            &ui,
            &format!("{tokens}/rename"),
            &[("csrf", &csrf), ("token_id", &id), ("name", "releases")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    let page = editor.get(&ui, &tokens).await;
    assert!(page.html.contains("releases") && !page.html.contains(">deploys"));

    editor.create_event_type(&ui, &base).await;
    let sub = editor
        .post(
            &ui,
            &format!("{base}/subscriptions"),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/hook"),
                ("method", "POST"),
                ("event_types", "billing.invoice.paid"),
                ("labels", "tenant=acme"),
                ("metadata", "team=billing"),
            ],
        )
        .await
        .location
        .unwrap();
    assert!(editor.get(&ui, &sub).await.html.contains("team=billing"));
    let edit = editor.get(&ui, &format!("{sub}/edit")).await;
    assert!(edit.html.contains("team=billing"));
    editor
        .post(
            &ui,
            &format!("{sub}/edit"),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/hook"),
                ("method", "POST"),
                ("event_types", "billing.invoice.paid"),
                ("labels", "tenant=acme"),
                ("metadata", "team=ledger"),
            ],
        )
        .await;
    assert!(editor.get(&ui, &sub).await.html.contains("team=ledger"));
}

/// A subscription the worker disabled after it kept failing is told on the Activity page, its
/// description escaped, with a link to it; an application with nothing to report says so.
#[tokio::test]
async fn the_activity_page_tells_an_auto_disabled_subscription() {
    use hook0_core::circuit::CircuitPolicy;
    use hook0_core::delivery::{ClaimRequest, DeliveryOutcome, OutcomePolicy};
    use std::time::Duration;

    let ui = ui().await;
    let (mut editor, _, base) = ada_in_billing(&ui).await;
    let quiet = editor.get(&ui, &format!("{base}/activity")).await;
    assert_eq!(quiet.status, 200);
    assert!(quiet.html.contains("Nothing to report"), "{}", quiet.html);
    assert!(quiet.html.contains(r#"aria-current="page">Activity</a>"#));

    editor.create_event_type(&ui, &base).await;
    editor
        .create_subscription(&ui, &base, &[("description", "Ledger <b>")])
        .await;
    let access = editor.access_token();
    let app_id = base.rsplit('/').next().unwrap().to_owned();
    for _ in 0..2 {
        ingest(&ui, &access, &app_id, json!({ "tenant": "acme" })).await;
    }
    // What the worker does with an endpoint failing for longer than the auto-disable window
    // (no worker runs here): two failed deliveries, the window passed between them.
    let policy = OutcomePolicy {
        circuit: CircuitPolicy {
            failure_threshold: 0,
            cooldown: Duration::from_millis(1),
            max_cooldown: Duration::from_millis(1),
        },
        auto_disable_after: Some(Duration::from_millis(50)),
    };
    let request = ClaimRequest {
        limit: 1,
        lease: Duration::from_secs(60),
        max_in_flight_per_subscription: 10,
        fast_subscriptions: Vec::new(),
        max_in_flight_per_fast_subscription: 10,
        hp_retry_cutoff: 2,
        max_high_priority: 1,
        max_low_priority: 1,
    };
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(Duration::from_millis(80)).await;
        }
        let jobs = ui.store.claim_attempts("w", &request).await.unwrap().jobs;
        let attempt = jobs[0].attempt.clone();
        let outcome = DeliveryOutcome {
            completed_at: hook0_core::model::now(),
            response: hook0_core::model::Response {
                id: uuid::Uuid::now_v7(),
                application_id: attempt.application_id,
                error_name: Some("E_HTTP".into()),
                http_code: Some(503),
                headers: None,
                body: None,
                elapsed_time_ms: 1,
            },
            attempt,
            succeeded: false,
            retry_at: Some(hook0_core::model::now()),
        };
        ui.store
            .record_delivery_outcomes(&[outcome], &policy)
            .await
            .unwrap();
    }

    let activity = editor.get(&ui, &format!("{base}/activity")).await;
    assert_eq!(activity.status, 200);
    assert!(
        activity.html.contains("Subscription disabled"),
        "{}",
        activity.html
    );
    assert!(
        activity.html.contains("Ledger &#60;b&#62;"),
        "{}",
        activity.html
    );
    assert!(activity.html.contains("Open the subscription"));
    assert!(!activity.html.contains("Nothing to report"));
}

/// Posts the schema form of `billing.invoice.paid` on the event types page of `base`.
async fn post_schema(editor: &mut Browser, ui: &Ui, base: &str, schema: &str) -> Page {
    let csrf = editor.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "billing.invoice.paid"),
        ("schema", schema),
    ];
    editor
        .post(ui, &format!("{base}/event_types/schema"), &form)
        .await
}

#[tokio::test]
async fn an_editor_sets_and_removes_an_event_type_schema_from_its_page() {
    let ui = ui().await;
    let (mut editor, _, base) = ada_in_billing(&ui).await;
    editor.create_event_type(&ui, &base).await;

    let page = editor.get(&ui, &format!("{base}/event_types")).await;
    assert!(page.html.contains("none: any payload"));
    assert!(page
        .html
        .contains("JSON Schema of billing.invoice.paid (draft 2020-12; empty: any payload)"));

    let not_json = post_schema(&mut editor, &ui, &base, "{ not json").await;
    assert_eq!(not_json.status, 422);
    assert!(not_json.html.contains("The schema is not JSON"));
    let not_a_schema = post_schema(&mut editor, &ui, &base, r#"{"type": "no-such-type"}"#).await;
    assert_eq!(not_a_schema.status, 422);
    assert!(
        not_a_schema.html.contains("<code>schema</code>"),
        "{}",
        not_a_schema.html
    );

    let schema = r#"{"type": "object", "required": ["invoice_id"]}"#;
    let saved = post_schema(&mut editor, &ui, &base, schema).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let page = editor.get(&ui, &format!("{base}/event_types")).await;
    assert!(page
        .html
        .contains(r#"aria-label="Schema of billing.invoice.paid""#));
    assert!(page.html.contains("&#34;invoice_id&#34;"), "{}", page.html);

    let removed = post_schema(&mut editor, &ui, &base, "").await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let page = editor.get(&ui, &format!("{base}/event_types")).await;
    assert!(page.html.contains("none: any payload"));
}

#[tokio::test]
async fn an_editor_mints_opens_and_revokes_a_customer_portal_link() {
    let ui = ui().await;
    let (mut editor, _, base) = ada_in_billing(&ui).await;
    let page = editor.get(&ui, &format!("{base}/portal_sessions")).await;
    assert_eq!(page.status, 200);
    for label in [
        r#"<label for="labels">The customer's labels"#,
        "<legend>The customer may</legend>",
        r#"<label for="expires_in">Valid for</label>"#,
    ] {
        assert!(page.html.contains(label), "{label}");
    }
    let csrf = editor.csrf();
    let refused = editor
        .post(
            &ui,
            &format!("{base}/portal_sessions"),
            &[
                ("csrf", &csrf),
                ("labels", "tenant=acme"),
                ("capabilities", "view"),
                ("expires_in", "3600"),
                ("accent", "red"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.html.contains("<code>theme.accent</code>"),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("tenant=acme</textarea>"),
        "what was typed is kept"
    );

    let created = editor
        .post(
            &ui,
            &format!("{base}/portal_sessions"),
            &[
                ("csrf", &csrf),
                ("labels", "tenant=acme"),
                ("capabilities", "view"),
                ("capabilities", "send_test"),
                ("expires_in", "86400"),
                ("origins", "https://shop.example.com"),
                ("accent", "#0a7"),
                ("mode", "dark"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.html);
    let url = created
        .html
        .split(r#"<code id="portal-url">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the link is shown")
        .to_owned();
    assert!(
        url.starts_with("http://hook0.test/portal/h0portal_"),
        "{url}"
    );
    assert!(created.html.contains("view, send_test"));
    assert!(created.html.contains("https://shop.example.com"));
    let path = url.trim_start_matches("http://hook0.test");
    let portal = editor.get(&ui, path).await;
    assert_eq!(portal.status, 200);
    assert!(portal.html.contains("Your endpoints"));

    let listed = editor.get(&ui, &format!("{base}/portal_sessions")).await;
    assert!(!listed.html.contains(&url), "the link is shown once");
    let id = listed
        .html
        .split(r#"name="id" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let revoked = editor
        .post(
            &ui,
            &format!("{base}/portal_sessions/revoke"),
            &[("csrf", &csrf), ("id", &id)],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let gone = editor.get(&ui, path).await;
    assert_eq!(gone.status, 403);
    assert!(gone.html.contains("This link was revoked"));
}

/// An ordered subscription's page tells its keys in play: a key held on a dead letter (with
/// a Redeliver button that lets it go on), escaped, and the form keeps the ordering choice.
#[tokio::test]
async fn an_ordered_subscription_shows_its_held_key_and_redelivers_it() {
    use hook0_core::delivery::{ClaimRequest, DeliveryOutcome};

    let ui = ui().await;
    let (mut editor, _, base) = ada_in_billing(&ui).await;
    editor.create_event_type(&ui, &base).await;
    let created = editor
        .create_subscription(
            &ui,
            &base,
            &[
                ("ordering_label", "invoice_id"),
                ("ordering_on_dead_letter", "hold"),
            ],
        )
        .await;
    let page = created.location.expect("created: sent to its page");
    let fresh = editor.get(&ui, &page).await;
    assert!(
        fresh
            .html
            .contains("one at a time per value of <code>invoice_id</code>"),
        "{}",
        fresh.html
    );
    assert!(fresh
        .html
        .contains("None: no key has a delivery under way or waiting."));

    let access = editor.access_token();
    let app_id = base.rsplit('/').next().unwrap().to_owned();
    for _ in 0..2 {
        let labels = json!({ "tenant": "acme", "invoice_id": "in<42>" });
        ingest(&ui, &access, &app_id, labels).await;
    }
    // What the worker does when the key's first delivery fails with no retry left.
    let jobs = ui
        .store
        .claim_attempts(
            "w",
            &ClaimRequest::unlimited(10, std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .jobs;
    assert_eq!(jobs.len(), 1, "one delivery of the key at a time");
    let attempt = jobs[0].attempt.clone();
    let outcome = DeliveryOutcome {
        completed_at: hook0_core::model::now(),
        response: hook0_core::model::Response {
            id: uuid::Uuid::now_v7(),
            application_id: attempt.application_id,
            error_name: Some("E_HTTP".into()),
            http_code: Some(410),
            headers: None,
            body: None,
            elapsed_time_ms: 1,
        },
        attempt: attempt.clone(),
        succeeded: false,
        retry_at: None,
    };
    ui.store
        .record_delivery_outcomes(&[outcome], &Default::default())
        .await
        .unwrap();

    let held = editor.get(&ui, &page).await;
    assert_eq!(held.status, 200);
    assert!(held.html.contains("<h3>Keys in play</h3>"), "{}", held.html);
    assert!(
        held.html.contains("<code>in&#60;42&#62;</code>"),
        "{}",
        held.html
    );
    assert!(held.html.contains(">held</span> since"));
    assert!(held
        .html
        .contains(&format!("/logs/{}\">dead letter</a>", attempt.attempt_id)));
    assert!(held.html.contains("<td>1</td>"), "one waits behind it");
    assert!(held
        .html
        .contains("aria-label=\"Redeliver the dead letter holding in&#60;42&#62;\""));

    let csrf = editor.csrf();
    let redelivered = editor
        .post(
            &ui,
            &format!("{base}/logs/{}/retry", attempt.attempt_id),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(redelivered.status, 303);
    let attempt_page = editor
        .get(&ui, redelivered.location.as_deref().unwrap())
        .await;
    assert!(
        attempt_page
            .html
            .contains("<dt>Ordering key</dt><dd><code>in&#60;42&#62;</code>"),
        "{}",
        attempt_page.html
    );
    let after = editor.get(&ui, &page).await;
    assert!(after.html.contains(">delivering</span>"), "{}", after.html);
    assert!(!after.html.contains(">held</span>"));

    let edit = editor.get(&ui, &format!("{page}/edit")).await;
    assert!(
        edit.html
            .contains(r#"name="ordering_label" maxlength="50" value="invoice_id""#),
        "{}",
        edit.html
    );
    assert!(edit.html.contains(r#"<option value="hold" selected>"#));
}
