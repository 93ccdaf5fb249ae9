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

/// The output of a run that must succeed.
fn bench_ok(extra: &[&str]) -> String {
    let out = bench(extra);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn small_benchmark_on_sqlite_delivers_everything_once() {
    let stdout = bench_ok(&["--backend", "sqlite"]);
    assert!(stdout.contains("\"missing\":0"), "{stdout}");
    assert!(stdout.contains("\"duplicates\":0"), "{stdout}");
}

/// Ordered per key on PostgreSQL, with failures retried: every delivery once, and none
/// overtaking an event of its key acknowledged before it was sent (`--strict` fails on any).
#[test]
fn ordered_benchmark_on_postgres_keeps_each_keys_order() {
    let stdout = bench_ok(&[
        "--backend",
        "postgres",
        "--ordered-keys",
        "5",
        "--failure-rate",
        "0.1",
    ]);
    assert!(stdout.contains("\"out_of_order\":0"), "{stdout}");
    assert!(stdout.contains("\"missing\":0"), "{stdout}");
}
