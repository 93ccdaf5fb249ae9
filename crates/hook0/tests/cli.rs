//! The client commands of the `hook0` binary against a real `hook0 serve`, as a script would
//! run them: every command, `-o json` shapes, upstream's exit codes (2 refused secret,
//! 3 missing id, 4 refused input, 5 no server), profiles on disk with a private secret file.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::{start, Receiver};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `hook0 ARGS` with its config in `config`, `stdin` as its input, and no HOOK0_* from
/// the test's own environment.
fn hook0(config: &Path, args: &[&str], stdin: &str) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hook0"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HOOK0_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .env("HOOK0_CONFIG_DIR", config)
        .env("COLUMNS", "200")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_a_real_server() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let server = start("serve", data.path(), &[]);
    let receiver = Receiver::start().await;
    let (app_id, key) = support::application_with_key(&server.api).await;

    // Profiles: login checks the key, then saves it beside the config, readable by its owner.
    let base = server.api.trim_end_matches("/api/v1");
    let login = ok(hook0(
        cfg,
        &[
            "login",
            "--api-url",
            base,
            "--application-id",
            &app_id,
            "--secret",
            &key,
        ],
        "",
    ));
    assert!(login.stdout.contains("Billing"), "{}", login.stdout);
    let credentials = cfg.join("credentials.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!std::fs::read_to_string(cfg.join("config.toml"))
        .unwrap()
        .contains(&key));
    let whoami = ok(hook0(cfg, &["whoami", "-o", "json"], "")).json();
    assert_eq!(whoami["application_id"], app_id.as_str());
    assert_eq!(whoami["profile"], "default");
    assert_eq!(whoami["api_url"], server.api.as_str());
    let profiles = ok(hook0(cfg, &["config", "list", "-o", "json"], "")).json();
    assert_eq!(profiles["default_profile"], "default");
    let shown = ok(hook0(cfg, &["config", "show"], ""));
    assert!(shown.stdout.contains("(saved)") && !shown.stdout.contains(&key));
    assert!(ok(hook0(cfg, &["config", "path"], ""))
        .stdout
        .contains("config.toml"));

    // Event types.
    ok(hook0(
        cfg,
        &["event-type", "create", "billing.invoice.paid"],
        "",
    ));
    ok(hook0(
        cfg,
        &[
            "event-type",
            "create",
            "-s",
            "billing",
            "-r",
            "invoice",
            "-b",
            "sent",
        ],
        "",
    ));
    let types = ok(hook0(cfg, &["event-type", "list", "-o", "json"], "")).json();
    assert_eq!(types.as_array().unwrap().len(), 2);
    assert_eq!(types[0]["event_type_name"], "billing.invoice.paid");
    let unconfirmed = hook0(cfg, &["event-type", "delete", "billing.invoice.sent"], "");
    assert_eq!(unconfirmed.code, 1, "no terminal, no -y: nothing done");
    assert!(unconfirmed.stderr.contains("-y"));
    let gone = ok(hook0(
        cfg,
        &[
            "event-type",
            "delete",
            "billing.invoice.sent",
            "-y",
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    assert_eq!(
        gone,
        json!({"deleted": true, "entity": "event_type", "id": "billing.invoice.sent"})
    );

    // Subscriptions.
    let sub = ok(hook0(
        cfg,
        &[
            "subscription",
            "create",
            "-u",
            &receiver.url("/hook"),
            "-e",
            "billing.invoice.paid",
            "-l",
            "tenant=acme",
            "-H",
            "x-team=billing",
            "-d",
            "ledger",
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    let sub_id = sub["subscription_id"].as_str().unwrap().to_owned();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert_eq!(sub["target"]["headers"]["x-team"], "billing");
    let listed = ok(hook0(cfg, &["subscription", "list"], ""));
    assert!(listed.stdout.starts_with("SUBSCRIPTION ID") && listed.stdout.contains(&sub_id));
    let updated = ok(hook0(
        cfg,
        &[
            "subscription",
            "update",
            &sub_id,
            "-d",
            "the ledger",
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    assert_eq!(updated["description"], "the ledger");
    assert_eq!(
        updated["labels"]["tenant"], "acme",
        "unchanged fields are kept"
    );
    let ordered = ok(hook0(
        cfg,
        &[
            "subscription",
            "update",
            &sub_id,
            "--ordering-label",
            "invoice_id",
            "--on-dead-letter",
            "continue",
        ],
        "",
    ));
    assert!(
        ordered
            .stdout
            .contains("per invoice_id, continue past a dead letter"),
        "{}",
        ordered.stdout
    );
    let refused = hook0(
        cfg,
        &[
            "subscription",
            "update",
            &sub_id,
            "--on-dead-letter",
            "skip",
        ],
        "",
    );
    assert_eq!(refused.code, 2, "an unknown policy is a usage error");
    let disabled = ok(hook0(
        cfg,
        &["subscription", "disable", &sub_id, "-o", "json"],
        "",
    ))
    .json();
    assert_eq!(disabled["is_enabled"], false);
    let enabled = ok(hook0(
        cfg,
        &["subscription", "enable", &sub_id, "-o", "json"],
        "",
    ))
    .json();
    assert_eq!(enabled["is_enabled"], true);
    assert_eq!(
        ok(hook0(
            cfg,
            &["subscription", "get", &sub_id, "-o", "json"],
            ""
        ))
        .json()["secret"],
        secret.as_str()
    );

    // Events: from a flag, a file and standard input; delivered to the receiver.
    let sent = ok(hook0(
        cfg,
        &[
            "event",
            "send",
            "billing.invoice.paid",
            "-l",
            "tenant=acme",
            "-d",
            r#"{"invoice":"in_42"}"#,
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    let event_id = sent["event_id"].as_str().unwrap().to_owned();
    let file = config.path().join("payload.json");
    std::fs::write(&file, r#"{"invoice":"in_43"}"#).unwrap();
    ok(hook0(
        cfg,
        &[
            "event",
            "send",
            "billing.invoice.paid",
            "-l",
            "tenant=acme",
            "-f",
            file.to_str().unwrap(),
        ],
        "",
    ));
    ok(hook0(
        cfg,
        &[
            "event",
            "send",
            "billing.invoice.paid",
            "-l",
            "tenant=acme",
            "-d",
            "-",
        ],
        r#"{"invoice":"in_44"}"#,
    ));
    ok(hook0(
        cfg,
        &["trigger", "billing.invoice.paid", "-l", "tenant=acme"],
        "",
    ));
    let compact = ok(hook0(cfg, &["event", "list", "-o", "compact"], ""));
    assert_eq!(compact.stdout.lines().count(), 4);
    assert!(compact.stdout.lines().all(|l| l.split('\t').count() == 4));
    let got = ok(hook0(cfg, &["event", "get", &event_id], ""));
    assert!(
        got.stdout.contains(r#"{"invoice":"in_42"}"#),
        "{}",
        got.stdout
    );
    receiver
        .wait_for_events(std::slice::from_ref(&event_id), Duration::from_secs(10))
        .await;
    let attempts = ok(hook0(
        cfg,
        &["event", "get", &event_id, "--attempts", "-o", "json"],
        "",
    ))
    .json();
    assert!(attempts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["event_id"] == event_id.as_str()));

    // Replay: one event; in bulk only with --dry-run or --confirm.
    let replayed = ok(hook0(cfg, &["replay", &event_id, "-o", "json"], "")).json();
    assert_eq!(replayed["replayed"][0], event_id.as_str());
    assert_eq!(hook0(cfg, &["replay", "--all"], "").code, 4);
    let dry = ok(hook0(
        cfg,
        &[
            "replay",
            "--all",
            "--since",
            "1h",
            "--dry-run",
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["would_replay"].as_array().unwrap().len(), 4);
    let bulk = ok(hook0(
        cfg,
        &[
            "replay",
            "--all",
            "--since",
            "1h",
            "--limit",
            "2",
            "--confirm",
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    assert_eq!(bulk["replayed"].as_array().unwrap().len(), 2);

    // Verify a signature as a receiver would, the body on standard input.
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"invoice":"in_42"}"#;
    let signature = hook0_core::signature::sign(
        &secret,
        now,
        &[("x-event-id", event_id.as_str())],
        body.as_bytes(),
        Default::default(),
    );
    let header = format!("x-hook0-signature: {signature}");
    let id_header = format!("x-event-id: {event_id}");
    let verify = [
        "verify",
        "--signing-secret",
        &secret,
        "-H",
        &header,
        "-H",
        &id_header,
    ];
    ok(hook0(cfg, &verify, body));
    let tampered = hook0(cfg, &verify, r#"{"invoice":"in_0"}"#);
    assert_eq!(tampered.code, 1);
    assert!(
        tampered.stderr.contains("does not verify"),
        "{}",
        tampered.stderr
    );

    // Applications.
    assert!(ok(hook0(cfg, &["application", "current"], ""))
        .stdout
        .contains("Billing"));
    let apps = ok(hook0(cfg, &["application", "list", "-o", "json"], "")).json();
    assert_eq!(apps[0]["application_id"], app_id.as_str());
    ok(hook0(cfg, &["application", "switch", &app_id], ""));
    assert!(ok(hook0(cfg, &["completion", "bash"], ""))
        .stdout
        .contains("hook0"));

    // Upstream's exit codes, with the API's problem and what to do.
    let missing = hook0(
        cfg,
        &["event", "get", "0190a7c4-0000-7000-8000-000000000000"],
        "",
    );
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(missing.stderr.contains("NotFound") && missing.stderr.contains("hint:"));
    let refused = hook0(
        cfg,
        &[
            "--secret",
            "00000000-0000-4000-8000-000000000000",
            "event",
            "list",
        ],
        "",
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let invalid = hook0(
        cfg,
        &[
            "event",
            "send",
            "billing.invoice.paid",
            "-l",
            &format!("tenant={}", "x".repeat(60)),
        ],
        "",
    );
    assert_eq!(invalid.code, 4);
    assert!(
        invalid.stderr.contains("labels:"),
        "the validation details: {}",
        invalid.stderr
    );
    let unknown_type = hook0(
        cfg,
        &["event", "send", "billing.nope.x", "-l", "tenant=acme"],
        "",
    );
    assert_eq!(unknown_type.code, 4);
    let nobody = hook0(
        cfg,
        &["--api-url", "http://127.0.0.1:9", "event", "list"],
        "",
    );
    assert_eq!(nobody.code, 5);
    assert!(nobody.stderr.contains("is the server running"));

    // The environment alone (upstream's three variables) needs no profile.
    let bare = tempfile::tempdir().unwrap();
    let env_only = hook0(
        bare.path(),
        &[
            "--api-url",
            &server.api,
            "--secret",
            &key,
            "--application-id",
            &app_id,
            "event-type",
            "list",
            "-o",
            "compact",
        ],
        "",
    );
    assert_eq!(
        ok(env_only).stdout.trim(),
        "billing.invoice.paid\tbilling\tinvoice\tpaid"
    );
    assert!(!bare.path().join("config.toml").exists());

    ok(hook0(cfg, &["subscription", "delete", &sub_id, "-y"], ""));
    assert!(ok(hook0(cfg, &["subscription", "list"], ""))
        .stdout
        .contains("(none)"));
    ok(hook0(cfg, &["logout"], ""));
    assert_eq!(hook0(cfg, &["whoami"], "").code, 2, "no profile, no secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_sends_an_example_that_follows_the_event_type_schema() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let server = start("serve", data.path(), &[]);
    let (app_id, key) = support::application_with_key(&server.api).await;
    let base = server.api.trim_end_matches("/api/v1");
    ok(hook0(
        cfg,
        &[
            "login",
            "--api-url",
            base,
            "--application-id",
            &app_id,
            "--secret",
            &key,
        ],
        "",
    ));
    ok(hook0(
        cfg,
        &["event-type", "create", "billing.invoice.paid"],
        "",
    ));
    let sdk = hook0_sdk::Client::new(&server.api, &key).unwrap();
    let app: uuid::Uuid = app_id.parse().unwrap();
    let schema = json!({
        "type": "object", "required": ["invoice_id", "amount", "paid_at"],
        "properties": {
            "invoice_id": { "type": "string", "minLength": 4 },
            "amount": { "type": "integer", "minimum": 1 },
            "paid_at": { "type": "string", "format": "date-time" }
        },
        "additionalProperties": false
    });
    sdk.set_event_type_schema(app, "billing.invoice.paid", Some(&schema))
        .await
        .unwrap();
    let sent = ok(hook0(
        cfg,
        &[
            "trigger",
            "billing.invoice.paid",
            "-l",
            "tenant=acme",
            "-o",
            "json",
        ],
        "",
    ))
    .json();
    let event_id: uuid::Uuid = sent["event_id"].as_str().unwrap().parse().unwrap();
    let stored = sdk.event(app, event_id).await.unwrap();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stored.payload.unwrap())
        .unwrap();
    let payload: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(payload["amount"], 1, "{payload}");
    assert_eq!(payload["paid_at"], "2026-12-05T10:00:00Z");

    // A pattern cannot be guessed: the CLI says so, and what to do, before sending anything.
    let patterned = json!({ "type": "object", "required": ["id"],
        "properties": { "id": { "type": "string", "pattern": "^in_[0-9]+$" } } });
    sdk.set_event_type_schema(app, "billing.invoice.paid", Some(&patterned))
        .await
        .unwrap();
    let refused = hook0(
        cfg,
        &["trigger", "billing.invoice.paid", "-l", "tenant=acme"],
        "",
    );
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(refused.stderr.contains("`/id`"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("hook0 event send"),
        "{}",
        refused.stderr
    );
}
