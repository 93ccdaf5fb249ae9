//! Sends operational events (such as `api.subscription.disabled`) to the operator's webhook
//! (`OPERATIONAL_WEBHOOK_URL`). The store is the outbox: events are recorded in the transaction
//! that caused them and marked once this task has delivered them, so none is lost to a crash
//! (one may be sent twice). Runs only when a URL is configured.
//!
//! The URL is the operator's own, so it is not subject to the SSRF guard of customer targets.
//!
//! Nothing here sends mail: the operator's webhook is the only channel (the dashboard's
//! Activity page lists the same events).

use std::sync::Arc;
use std::time::Duration;

use hook0_core::model::OperationalEvent;
use hook0_store::Store;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Events sent per round.
const BATCH: u32 = 50;
/// Timeout of one POST.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Until `shutdown`: every `interval`, POSTs the events not sent yet, oldest first. An event
/// whose POST fails (transport error or non-2xx) is tried again next round, and blocks the
/// ones after it so that they arrive in order.
pub(crate) async fn notify(
    store: Arc<dyn Store>,
    url: url::Url,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(crate::http_client::USER_AGENT)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the operational webhook client; operational events are not sent");
            return;
        }
    };
    // Sleep in short steps: an event recorded just now is sent within a second or so.
    let interval = interval.min(Duration::from_secs(1));
    loop {
        send_pending(store.as_ref(), &client, &url).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

async fn send_pending(store: &dyn Store, client: &reqwest::Client, url: &url::Url) {
    let events = match store.operational_events_to_notify(BATCH).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "reading operational events to send failed");
            return;
        }
    };
    let mut sent = Vec::with_capacity(events.len());
    for event in &events {
        match client.post(url.clone()).json(&body(event)).send().await {
            Ok(response) if response.status().is_success() => sent.push(event.id),
            Ok(response) => {
                tracing::warn!(status = %response.status(), event_id = %event.id, "operational webhook refused an event; retrying later");
                break;
            }
            Err(error) => {
                tracing::warn!(%error, event_id = %event.id, "operational webhook unreachable; retrying later");
                break;
            }
        }
    }
    if !sent.is_empty() {
        if let Err(error) = store.mark_operational_events_notified(&sent).await {
            tracing::warn!(%error, "could not mark operational events as sent; they may be sent again");
        }
    }
}

/// The JSON an operator receives.
fn body(event: &OperationalEvent) -> serde_json::Value {
    json!({
        "event_id": event.id,
        "event_type": event.event_type,
        "organization_id": event.organization_id,
        "application_id": event.application_id,
        "occurred_at": event.created_at,
        "payload": event.payload,
    })
}
