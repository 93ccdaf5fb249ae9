//! What a finished delivery adds to the process's metrics and to its `request_attempt` span:
//! the attempt's outcome, the event's end-to-end latency on success, and whether a retry was
//! scheduled or the attempt was given up (a dead letter).

use hook0_core::delivery::{DeliveryJob, DeliveryOutcome};
use hook0_core::metrics::{metrics, AttemptOutcome};

use hook0_core::delivery::{E_CONNECTION, E_DNS, E_INVALID_HEADER, E_INVALID_TARGET, E_TIMEOUT};

/// The `outcome` label of an attempt.
pub fn classify(outcome: &DeliveryOutcome) -> AttemptOutcome {
    if outcome.succeeded {
        return AttemptOutcome::success;
    }
    match (
        outcome.response.http_code,
        outcome.response.error_name.as_deref(),
    ) {
        (Some(300..=399), _) => AttemptOutcome::http_3xx,
        (Some(400..=499), _) => AttemptOutcome::http_4xx,
        (Some(500..=599), _) => AttemptOutcome::http_5xx,
        (Some(_), _) => AttemptOutcome::unknown,
        (None, Some(E_TIMEOUT)) => AttemptOutcome::timeout,
        (None, Some(E_CONNECTION)) => AttemptOutcome::connection,
        (None, Some(E_DNS)) => AttemptOutcome::dns,
        (None, Some(E_INVALID_TARGET)) => AttemptOutcome::invalid_target,
        (None, Some(E_INVALID_HEADER)) => AttemptOutcome::invalid_header,
        (None, _) => AttemptOutcome::unknown,
    }
}

/// Records one finished delivery, in the span of its attempt.
pub(crate) fn record(job: &DeliveryJob, outcome: &DeliveryOutcome) {
    let label = classify(outcome);
    let m = metrics();
    m.delivery_attempt(label);
    if outcome.succeeded {
        if let Ok(latency) = (outcome.completed_at - job.event_received_at).to_std() {
            m.delivered(latency);
        }
    } else if outcome.retry_at.is_some() {
        m.retry_scheduled();
    } else {
        m.dead_letter();
    }
    let span = tracing::Span::current();
    span.record("outcome", format!("{label:?}"));
    if let Some(code) = outcome.response.http_code {
        span.record("http_status", code);
    }
}
