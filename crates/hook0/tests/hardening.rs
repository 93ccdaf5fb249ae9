//! Security hardening, probed from outside as an attacker would: the real `hook0 serve`
//! process, real sockets, Biscuits attenuated here with the `biscuit-auth` crate.
//!
//! - A token whose Datalog would take seconds of CPU is refused at once, and the server stays
//!   responsive meanwhile.
//! - Large tokens neither grow the process nor reach the decoder.
//! - An attenuated token never reads or mints credentials (service tokens, application secrets,
//!   memberships), and a service token's Biscuit is shown once, when it is created.
//! - A consumer portal secret never reaches the logs, even at the trace level.

mod support;

use std::time::{Duration, Instant};

use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::{Biscuit, PublicKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::{start, Hook0, MASTER_KEY};

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &Hook0) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.api.clone(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn public_key(&self) -> PublicKey {
        let (_, instance) = self.call(Method::GET, "/instance", None, None).await;
        PublicKey::from_bytes_hex(
            instance["biscuit_public_key"].as_str().unwrap(),
            biscuit_auth::Algorithm::Ed25519,
        )
        .unwrap()
    }

    /// Registers the instance's first user (verified at once without SMTP) and logs in:
    /// `(organization_id, access_token, user_id)`.
    async fn first_user(&self) -> (String, String, String) {
        let password = "correct-zebra-staple-42";
        let (status, registered) = self
            .call(
                Method::POST,
                "/register",
                None,
                Some(json!({ "first_name": "Mallory", "last_name": "Attacker",
                    "email": "mallory@example.com", "password": password })),
            )
            .await;
        assert_eq!(status, 201, "{registered}");
        let (status, login) = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({ "email": "mallory@example.com", "password": password })),
            )
            .await;
        assert_eq!(status, 201, "{login}");
        (
            registered["organization_id"].as_str().unwrap().to_owned(),
            login["access_token"].as_str().unwrap().to_owned(),
            registered["user_id"].as_str().unwrap().to_owned(),
        )
    }
}

fn attenuate(token: &str, key: PublicKey, code: &str) -> String {
    let biscuit = Biscuit::from_base64(token, key).unwrap();
    biscuit
        .append(BlockBuilder::new().code(code).unwrap())
        .unwrap()
        .to_base64()
        .unwrap()
}

fn facts(n: usize) -> String {
    (0..n).map(|i| format!("n({i});")).collect()
}

/// The process's resident memory, in MiB.
fn rss_mib(server: &Hook0) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_costly_check_is_refused_at_once_while_others_stay_fast() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[]);
    let api = Api::new(&server);
    let key = api.public_key().await;
    let (_, access, _) = api.first_user().await;

    // The finding's token: 200 facts and a three-way join (12.6 s before), and one within
    // the statement cap whose join alone is too large (60³ combinations).
    let costly = [
        format!(
            "{} check if n($x), n($y), n($z), $x + $y + $z == -1;",
            facts(200)
        ),
        format!(
            "{} check if n($x), n($y), n($z), $x + $y + $z == -1;",
            facts(60)
        ),
        format!(
            "{} m($x, $y) <- n($x), n($y); check if m($a, $b), m($c, $d), $a + $c == -1;",
            facts(30)
        ),
    ];
    for code in &costly {
        let token = attenuate(&access, key, code);
        let heavy = {
            let (http, base, token) = (api.http.clone(), api.base.clone(), token.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = http
                    .get(format!("{base}/organizations"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                (answer.status(), started.elapsed())
            })
        };
        let started = Instant::now();
        let (status, _) = api.call(Method::GET, "/instance", None, None).await;
        let other = started.elapsed();
        let (heavy_status, heavy_took) = heavy.await.unwrap();
        println!("costly token refused in {heavy_took:?}; /instance meanwhile in {other:?}");
        assert_eq!(status, 200);
        assert_eq!(heavy_status, 403);
        assert!(
            heavy_took < Duration::from_secs(2),
            "refused after {heavy_took:?}"
        );
        assert!(other < Duration::from_secs(2), "/instance took {other:?}");
    }
    // An ordinary attenuation still works.
    let narrowed = attenuate(
        &access,
        key,
        "check if time($t), $t < 2100-01-01T00:00:00Z;",
    );
    let (status, _) = api
        .call(Method::GET, "/organizations", Some(&narrowed), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_tokens_leave_memory_flat() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[]);
    let api = Api::new(&server);
    let key = api.public_key().await;
    let (_, access, _) = api.first_user().await;
    for _ in 0..20 {
        api.call(Method::GET, "/organizations", Some(&access), None)
            .await;
    }
    let before = rss_mib(&server);
    let filler = "x".repeat(300 * 1024);
    for i in 0..60 {
        let token = attenuate(&access, key, &format!("big(\"{filler}{i}\");"));
        assert!(token.len() > 370_000);
        let (status, problem) = api
            .call(Method::GET, "/organizations", Some(&token), None)
            .await;
        assert_eq!(status, 403);
        assert_eq!(problem["id"], "AuthInvalidBiscuit");
    }
    let after = rss_mib(&server);
    println!("RSS before {before:.1} MiB, after 60 tokens of 370 KB: {after:.1} MiB");
    assert!(
        after - before < 20.0,
        "RSS grew from {before:.1} to {after:.1} MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attenuated_token_neither_reads_nor_mints_credentials() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[]);
    let api = Api::new(&server);
    let key = api.public_key().await;
    let (org, access, user_id) = api.first_user().await;

    let (status, app) = api
        .call(
            Method::POST,
            "/applications",
            Some(MASTER_KEY),
            Some(json!({ "organization_id": org, "name": "Billing" })),
        )
        .await;
    assert_eq!(status, 201);
    let app_id = app["application_id"].as_str().unwrap().to_owned();
    let (status, created) = api
        .call(
            Method::POST,
            "/service_token",
            Some(&access),
            Some(json!({ "organization_id": org, "name": "ci" })),
        )
        .await;
    assert_eq!(status, 201);
    let root = created["biscuit"].as_str().unwrap().to_owned();
    let token_id = created["token_id"].as_str().unwrap().to_owned();
    assert!(!root.is_empty(), "the creation answer carries the Biscuit");

    // The README's own example: a service token restricted by an expiry only.
    let restricted = attenuate(&root, key, "check if time($t), $t < 2100-01-01T00:00:00Z;");
    let restricted_session = attenuate(
        &access,
        key,
        "check if time($t), $t < 2100-01-01T00:00:00Z;",
    );
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/applications?organization_id={org}"),
            Some(&restricted),
            None,
        )
        .await;
    assert_eq!(status, 200, "ordinary work is allowed");

    let credential_routes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::GET,
            format!("/service_token?organization_id={org}"),
            None,
        ),
        (
            Method::POST,
            "/service_token".into(),
            Some(json!({ "organization_id": org, "name": "escape" })),
        ),
        (
            Method::GET,
            format!("/service_token/{token_id}?organization_id={org}"),
            None,
        ),
        (
            Method::PUT,
            format!("/service_token/{token_id}"),
            Some(json!({ "organization_id": org, "name": "renamed" })),
        ),
        (
            Method::DELETE,
            format!("/service_token/{token_id}?organization_id={org}"),
            None,
        ),
        (
            Method::GET,
            format!("/application_secrets?application_id={app_id}"),
            None,
        ),
        (
            Method::POST,
            "/application_secrets".into(),
            Some(json!({ "application_id": app_id, "name": "escape" })),
        ),
        (
            Method::POST,
            format!("/organizations/{org}/invite"),
            Some(json!({ "email": "mallory@example.com", "role": "editor" })),
        ),
        (
            Method::PUT,
            format!("/organizations/{org}/invite"),
            Some(json!({ "user_id": user_id, "role": "viewer" })),
        ),
        (
            Method::DELETE,
            format!("/organizations/{org}/invite"),
            Some(json!({ "user_id": user_id })),
        ),
    ];
    for token in [&restricted, &restricted_session] {
        for (method, path, body) in &credential_routes {
            let (status, problem) = api
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            assert_eq!(status, 403, "{method} {path}: {problem}");
            assert_eq!(problem["id"], "Forbidden", "{method} {path}");
        }
    }

    // The root token itself lists its peers without their Biscuits.
    let (status, listed) = api
        .call(
            Method::GET,
            &format!("/service_token?organization_id={org}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["biscuit"], "");
    // Nothing was minted or renamed by the attempts above.
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "ci");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_a_public_address_need_a_key() {
    let metrics = |server: &Hook0| {
        let url = server.api.replace("/api/v1", "/metrics");
        async move { reqwest::get(url).await.unwrap().status() }
    };
    let data = tempfile::tempdir().unwrap();
    let open = start("serve", data.path(), &[("IP", "0.0.0.0")]);
    assert_eq!(metrics(&open).await, 404, "not served without METRICS_KEY");
    drop(open);

    let data = tempfile::tempdir().unwrap();
    let keyed = start(
        "serve",
        data.path(),
        &[("IP", "0.0.0.0"), ("METRICS_KEY", "scrape-me-please")],
    );
    assert_eq!(metrics(&keyed).await, 401);
    let url = keyed
        .api
        .replace("/api/v1", "/metrics?key=scrape-me-please");
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);

    // On loopback (the default), no key is needed.
    let data = tempfile::tempdir().unwrap();
    let local = start("serve", data.path(), &[]);
    assert_eq!(metrics(&local).await, 200);
}

/// Waits until the server closes `stream` (a read returns 0 or fails); how long it took.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buffer),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue, // an answer (408, …): keep reading until it closes
        }
    }
}

fn address(server: &Hook0) -> String {
    server
        .api
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_and_idle_connections_are_closed_and_the_count_is_capped() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let server = start(
        "serve",
        data.path(),
        &[("HTTP_HEADER_READ_TIMEOUT", "1s"), ("MAX_CONNECTIONS", "4")],
    );
    let addr = address(&server);

    // Half a request, then silence: closed after about a second (before: held forever).
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /api/v1/instance HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut half, Duration::from_secs(10)).await;
    println!("a half-sent request's connection was closed after {took:?}");
    assert!(took.is_some_and(|t| t < Duration::from_secs(5)), "{took:?}");
    // A connection that never says anything goes the same way.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(10))
        .await
        .is_some());

    // Four held connections fill the server; a fifth is closed at once, and nothing else
    // suffers once they go.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let refused = closed_within(&mut fifth, Duration::from_millis(800)).await;
    assert!(refused.is_some(), "the fifth connection was kept");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let api = Api::new(&server);
    let (status, _) = api.call(Method::GET, "/instance", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_connection_cannot_delay_shutdown() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let mut server = start(
        "serve",
        data.path(),
        &[
            ("HTTP_HEADER_READ_TIMEOUT", "10m"),
            ("API_SHUTDOWN_GRACE", "1s"),
        ],
    );
    let addr = address(&server);
    let mut holders = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /api/v1/event HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            .await
            .unwrap();
        holders.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let child = std::sync::Mutex::new(&mut server.child);
    let exited = hook0_testkit::wait_until("the exit", Duration::from_secs(15), || async {
        child.lock().unwrap().try_wait().unwrap()
    })
    .await;
    let took = started.elapsed();
    println!("shutdown with 20 held connections took {took:?}");
    assert!(exited.success(), "{exited:?}");
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}");
}

/// A consumer portal session's secret is a credential in a URL: used through the pages and
/// through the API, at the most verbose log level, it never reaches the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_secret_never_reaches_the_logs() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .arg("serve")
        .env("HOOK0_DATA_DIR", data.path())
        .env("PORT", "0")
        .env("MASTER_API_KEY", MASTER_KEY)
        .env("DISABLE_API_RATE_LIMITING", "true")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes are drained by threads, so the server never blocks on a full one.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        let mut announced = false;
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if !announced {
                if let Some(line) = text
                    .lines()
                    .find(|l| l.starts_with("Hook0 API listening on "))
                {
                    let _ = tx.send(
                        line.trim_start_matches("Hook0 API listening on ")
                            .trim()
                            .to_owned(),
                    );
                    announced = true;
                }
            }
        }
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let api = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server announced its address");
    let base = api.trim_end_matches("/api/v1").to_owned();
    let (app_id, _) = support::application_with_key(&api).await;
    let http = reqwest::Client::new();
    let session = support::post_json(
        &http,
        &api,
        "/portal_sessions",
        json!({ "application_id": app_id, "labels": { "tenant": "acme" },
                "capabilities": ["view", "manage_subscriptions"] }),
    )
    .await;
    let url = session["url"].as_str().unwrap().to_owned();
    let secret = url.rsplit('/').next().unwrap().to_owned();
    // The pages, a form post, and the API with the secret as Bearer.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let posted = http
        .post(format!("{url}/subscriptions"))
        .header("origin", &base)
        .form(&[("url", "https://acme.example/hook"), ("method", "POST")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        422,
        "no event type picked: the form comes back"
    );
    let answer = http
        .get(format!("{api}/portal/session"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let _ = http
        .get(format!("{base}/portal/{secret}/no-such-page"))
        .send()
        .await;
    let _ = child.kill();
    let _ = child.wait();
    let logs = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    assert!(logs.len() > 1000, "trace logging ran: {} bytes", logs.len());
    // The portal API requests were logged, by their route template only.
    assert!(
        logs.contains("/api/v1/portal/session"),
        "{}",
        &logs[..logs.len().min(2000)]
    );
    assert!(!logs.contains(&secret), "the portal secret was logged");
    assert!(!logs.contains("h0portal_"), "a portal secret was logged");
}
