//! Crash safety: the real binary is killed with SIGKILL while deliveries are in flight, then
//! restarted on the same data directory. Every event it acknowledged must reach the receiver.

mod support;

use std::time::Duration;

use support::{ingest, start, wire, Receiver};

/// `hook0 serve` with short timeouts and a short lease, so deliveries cut by the kill are
/// retried soon after the restart.
fn start_server(data_dir: &std::path::Path) -> support::Hook0 {
    start(
        "serve",
        data_dir,
        &[
            ("TIMEOUT", "2s"),
            ("DELIVERY_LEASE", "3s"),
            ("CONCURRENT", "4"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_kill_during_delivery() {
    // The receiver takes its time, so the kill lands mid-delivery.
    let receiver = Receiver::slow(Duration::from_millis(300)).await;
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path());
    let http = reqwest::Client::new();
    let app_id = wire(&http, &server.api, &receiver.url("/hook")).await;

    let mut acknowledged = Vec::new();
    for n in 0..40 {
        let id = ingest(&http, &server.api, &app_id, n).await;
        acknowledged.push(id.expect("acknowledged with 201"));
    }

    // Kill as soon as some deliveries have landed and others are in flight.
    receiver.wait_for_requests(4, Duration::from_secs(20)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let before_restart = receiver.count();
    assert!(
        before_restart < acknowledged.len(),
        "the kill must land before everything was delivered"
    );

    let _server = start_server(data.path());
    receiver
        .wait_for_events(&acknowledged, Duration::from_secs(40))
        .await;
}
