//! Tells an outside monitor that this worker is alive (`MONITORING_HEARTBEAT_URL`), as upstream:
//! a `POST {"worker_name", "worker_version"}` at most once per `MONITORING_HEARTBEAT_MIN_PERIOD_IN_S`.
//! A beat is sent only while the dispatch loop itself is turning (its in-process heartbeat is
//! recent), so a stuck worker goes quiet and the monitor can alert. The URL is the operator's
//! own: it is not subject to the SSRF guard of customer targets.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::Heartbeat;

/// Timeout of one POST.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The dispatch loop turns at least every poll interval; older than this, it is stuck.
const LOOP_STALE_AFTER: Duration = Duration::from_secs(60);

/// Until `shutdown`: one beat soon after start, then one per `min_period`.
pub(crate) async fn beat(heartbeat: Heartbeat, worker_name: String, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(crate::http_client::USER_AGENT)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the heartbeat client; no heartbeat is sent");
            return;
        }
    };
    let body = json!({
        "worker_name": worker_name,
        "worker_version": env!("CARGO_PKG_VERSION"),
    });
    // Let the dispatch loop turn once before the first beat.
    let mut wait = Duration::from_millis(200).min(heartbeat.min_period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = heartbeat.min_period;
        let alive = hook0_core::metrics::metrics()
            .worker_heartbeat_age()
            .is_some_and(|age| age <= LOOP_STALE_AFTER.max(heartbeat.min_period));
        if !alive {
            tracing::warn!("the dispatch loop has not turned recently: no heartbeat sent");
            continue;
        }
        match client.post(heartbeat.url.clone()).json(&body).send().await {
            Ok(answer) if answer.status().is_success() => {
                tracing::debug!("heartbeat sent");
            }
            Ok(answer) => {
                tracing::warn!(
                    status = answer.status().as_u16(),
                    "the heartbeat monitor refused the beat"
                );
            }
            Err(error) => tracing::warn!(%error, "cannot reach the heartbeat monitor"),
        }
    }
}
