//! Runs the benchmark at a tiny size so it cannot rot: it must deliver every event exactly once
//! (`--strict` fails on any missing or duplicate delivery). It asserts no speed.

use std::process::Command;

fn bench(extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hook0-bench"))
        .args([
            "--events",
            "300",
            "--concurrency",
            "8",
            "--fanout",
            "2",
            "--strict",
            "--timeout-secs",
            "60",
        ])
        .args(extra)
        .output()
        .expect("hook0-bench runs")
}

#[test]
fn small_benchmark_on_sqlite_delivers_everything_once() {
    let out = bench(&["--backend", "sqlite"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"missing\":0"), "{stdout}");
    assert!(stdout.contains("\"duplicates\":0"), "{stdout}");
}

/// Ordered per key on PostgreSQL, with failures retried: every delivery once, and none
/// overtaking an event of its key acknowledged before it was sent (`--strict` fails on any).
#[test]
fn ordered_benchmark_on_postgres_keeps_each_keys_order() {
    let out = bench(&[
        "--backend",
        "postgres",
        "--ordered-keys",
        "5",
        "--failure-rate",
        "0.1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"out_of_order\":0"), "{stdout}");
    assert!(stdout.contains("\"missing\":0"), "{stdout}");
}
