//! The documentation's curl examples run: every `sh` block of README.md and docs/api-examples.md
//! (except those that build or start the server with cargo) is extracted and run with bash,
//! file by file in one shell, against a freshly started `hook0 serve` and a loopback receiver.
//! A block that fails (`curl -f` on an error status, a missing `jq` field) fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{start, Receiver, MASTER_KEY};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `sh` blocks of a markdown file that talk to a running server.
fn runnable_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence.starts_with("```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    blocks.retain(|b| !b.contains("cargo "));
    blocks
}

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the documentation examples need `{tool}` (apt-get install {tool})"
    );
}

async fn run_examples(file: &str) -> usize {
    let markdown = std::fs::read_to_string(repository().join(file)).unwrap();
    let blocks = runnable_blocks(&markdown);
    assert!(!blocks.is_empty(), "{file} has no runnable example");
    let receiver = Receiver::start().await;
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[]);
    let script = format!("set -euo pipefail\n{}", blocks.join("\n"));
    // The CLI examples run the binary under test, with their profile in a throwaway place.
    let config = tempfile::tempdir().unwrap();
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_hook0"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("HOOK0_API_URL", &server.api)
        .env("MASTER_API_KEY", MASTER_KEY)
        .env("TARGET_URL", receiver.url("/hook"))
        .env("PATH", path)
        .env("HOOK0_CONFIG_DIR", config.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the examples of {file} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    blocks.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_run() {
    require("curl");
    require("jq");
    run_examples("README.md").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_examples_run() {
    require("curl");
    require("jq");
    run_examples("docs/api-examples.md").await;
}

/// Every resource of the OpenAPI document has an example.
#[test]
fn every_resource_has_an_example() {
    let examples = std::fs::read_to_string(repository().join("docs/api-examples.md")).unwrap();
    let doc = serde_json::to_value(hook0_api::openapi()).unwrap();
    for path in doc["paths"].as_object().unwrap().keys() {
        let resource = path
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap();
        assert!(
            examples.contains(&format!("$API/{resource}")),
            "no example for {path}"
        );
    }
}
