//! The `hook0` binary's side of identity: with no BISCUIT_PRIVATE_KEY, `hook0 serve` generates
//! a key into the data directory (owner-only) and publishes its public half; without SMTP the
//! first user is verified at once and `hook0 user verify` verifies the others; upstream's rate
//! limits are on by default; and no secret (password, session or service token, application
//! or subscription secret) ever reaches the logs, even at `RUST_LOG=trace`; and expired
//! session tokens are cleaned up after their grace period.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const PASSWORD: &str = "Tr0mb0ne&Kiwi#Hail";

struct Server {
    child: Child,
    api: String,
    logs: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &std::path::Path) -> Server {
    start_with(data_dir, &[])
}

fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("HOOK0_DATA_DIR", data_dir)
        .env("PORT", "0")
        .env("RUST_LOG", "trace")
        .env_remove("BISCUIT_PRIVATE_KEY")
        .env_remove("MASTER_API_KEY")
        .env_remove("SMTP_CONNECTION_URL")
        .env_remove("DISABLE_API_RATE_LIMITING")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hook0 binary starts");
    let logs = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut logs = sink.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let api = loop {
        let line = lines.next().expect("hook0 printed its address").unwrap();
        logs.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(rest) = line.strip_prefix("Hook0 API listening on ") {
            break rest.trim().to_string();
        }
    };
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut logs = sink.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    Server { child, api, logs }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_needs_no_key_nor_mail_server_and_logs_no_secret() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.api);
    use reqwest::Method;

    // The generated key: owner-only, and the one /instance publishes.
    let key_file = data.path().join("biscuit_private_key");
    let private_hex = std::fs::read_to_string(&key_file).expect("a generated key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (_, instance) = call(&http, Method::GET, api("/instance"), None, None).await;
    let key = hook0_api::BiscuitKey::from_private_hex(&private_hex).unwrap();
    assert_eq!(instance["biscuit_public_key"], key.public_hex().as_str());

    // The first user may log in at once; the second after `hook0 user verify`.
    let register = |email: &str| json!({ "first_name": "Ada", "last_name": "Lovelace", "email": email, "password": PASSWORD });
    let login = |email: &str| json!({ "email": email, "password": PASSWORD });
    let (status, registered) = call(
        &http,
        Method::POST,
        api("/register"),
        None,
        Some(register("first@example.com")),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let (status, session) = call(
        &http,
        Method::POST,
        api("/auth/login"),
        None,
        Some(login("first@example.com")),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let (status, _) = call(
        &http,
        Method::POST,
        api("/register"),
        None,
        Some(register("second@example.com")),
    )
    .await;
    assert_eq!(status, 201);
    let (status, refused) = call(
        &http,
        Method::POST,
        api("/auth/login"),
        None,
        Some(login("second@example.com")),
    )
    .await;
    assert_eq!(
        (status, refused["id"].as_str()),
        (401, Some("AuthEmailNotVerified"))
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .args(["user", "verify", "Second@Example.com"])
        .env("HOOK0_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("second@example.com is verified"));
    let (status, second) = call(
        &http,
        Method::POST,
        api("/auth/login"),
        None,
        Some(login("second@example.com")),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let unknown = Command::new(env!("CARGO_BIN_EXE_hook0"))
        .args(["user", "verify", "nobody@example.com"])
        .env("HOOK0_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!unknown.status.success());

    // The first user works in its organization: a service token, an application (and its
    // secret), a subscription (and its secret).
    let access = session["access_token"].as_str().unwrap().to_owned();
    let org = registered["organization_id"].as_str().unwrap().to_owned();
    let (status, service) = call(
        &http,
        Method::POST,
        api("/service_token"),
        Some(&access),
        Some(json!({ "organization_id": org, "name": "ci" })),
    )
    .await;
    assert_eq!(status, 201, "{service}");
    let service = service["biscuit"].as_str().unwrap().to_owned();
    let (status, application) = call(
        &http,
        Method::POST,
        api("/applications"),
        Some(&service),
        Some(json!({ "organization_id": org, "name": "Billing" })),
    )
    .await;
    assert_eq!(status, 201, "{application}");
    let application_id = application["application_id"].as_str().unwrap().to_owned();
    let (_, secrets) = call(
        &http,
        Method::GET,
        api(&format!(
            "/application_secrets?application_id={application_id}"
        )),
        Some(&service),
        None,
    )
    .await;
    let app_secret = secrets[0]["token"].as_str().unwrap().to_owned();
    let (status, _) = call(&http, Method::POST, api("/event_types"), Some(&app_secret), Some(json!({ "application_id": application_id, "service": "billing", "resource_type": "invoice", "verb": "paid" }))).await;
    assert_eq!(status, 201);
    let (status, subscription) = call(&http, Method::POST, api("/subscriptions"), Some(&app_secret), Some(json!({
        "application_id": application_id, "is_enabled": true, "event_types": ["billing.invoice.paid"],
        "labels": { "tenant": "acme" },
        "target": { "type": "http", "method": "POST", "url": "http://127.0.0.1:9/hook", "headers": {} }
    }))).await;
    assert_eq!(status, 201, "{subscription}");
    let subscription_secret = subscription["secret"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &http,
        Method::POST,
        api("/auth/refresh"),
        Some(&refresh),
        None,
    )
    .await;
    assert_eq!(status, 201);

    // Upstream's per-token limit is on: 20 at once, then about 10 a second.
    let mut limited = None;
    for _ in 0..40 {
        let response = http
            .get(api(&format!(
                "/event_types?application_id={application_id}"
            )))
            .bearer_auth(&app_secret)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the per-token limit answers 429");
    assert!(limited.headers().contains_key("retry-after"));
    assert!(limited.headers().contains_key("x-ratelimit-after"));

    // Nothing secret in the logs, at the most verbose level.
    let logs = server.logs.lock().unwrap().clone();
    assert!(
        logs.contains("generated a Biscuit private key"),
        "the key generation is logged"
    );
    assert!(logs.len() > 1000, "trace logging is on");
    for (what, secret) in [
        ("the Biscuit private key", private_hex.trim()),
        ("a password", PASSWORD),
        ("an access token", &access),
        ("a refresh token", &refresh),
        ("a service token", &service),
        ("an application secret", &app_secret),
        ("a subscription secret", &subscription_secret),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_closed_session_are_cleaned_up_after_the_grace_period() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(
        data.path(),
        &[
            ("EXPIRED_TOKENS_CLEANUP_PERIOD", "200ms"),
            ("EXPIRED_TOKENS_CLEANUP_GRACE_PERIOD", "0s"),
            ("LOG_FORMAT", "json"),
        ],
    );
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.api);
    use reqwest::Method;
    let (status, _) = call(&http, Method::POST, api("/register"), None, Some(json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "password": PASSWORD }))).await;
    assert_eq!(status, 201);
    let (status, session) = call(
        &http,
        Method::POST,
        api("/auth/login"),
        None,
        Some(json!({ "email": "ada@example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let access = session["access_token"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &http,
        Method::POST,
        api("/auth/logout"),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // The logout expired the session's access and refresh tokens: both rows go.
    let cleanup = "\"deleted expired tokens\" in the logs";
    let logs = hook0_testkit::wait_until(cleanup, std::time::Duration::from_secs(20), || async {
        let logs = server.logs.lock().unwrap().clone();
        logs.contains("deleted expired tokens").then_some(logs)
    })
    .await;
    assert!(logs.contains(r#""deleted_tokens":2"#), "{logs}");
    let (status, refused) = call(
        &http,
        Method::GET,
        api("/organizations"),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(
        (status, refused["id"].as_str()),
        (403, Some("AuthInvalidBiscuit"))
    );
}
