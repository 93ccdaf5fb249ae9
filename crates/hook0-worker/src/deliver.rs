//! One delivery: turn a claimed attempt into a signed HTTP request, send it, and describe what
//! happened as a [`DeliveryOutcome`] (stored response, success or error name, next retry).
//!
//! Every delivery carries `X-Hook0-Signature`; a subscription that opted into Standard Webhooks
//! also gets `webhook-id` (the event id), `webhook-timestamp` and `webhook-signature`, signed
//! by each of its live secrets (two during a rotation). Those are added after the Hook0
//! signature, which therefore covers the same headers whether or not the subscription opted in.
//!
//! Error names are upstream's, because the API shows them to customers. Like upstream, every
//! failure is retried on the schedule (including `E_INVALID_TARGET`: a DNS record may be fixed
//! by the next try) except `E_INVALID_HEADER`, which no retry can fix.

use std::error::Error as _;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use hook0_core::delivery::{DeliveryJob, DeliveryOutcome};
use hook0_core::model::{Response, StringMap};
use hook0_core::relay::{LocalRelay, RelayAnswer, RelayError, RelayRequest};
use hook0_core::retry::retry_after;
use hook0_core::signature::sign;
use hook0_core::standard_webhooks;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode};
use url::Url;
use uuid::Uuid;

use crate::config::WorkerConfig;
use crate::ssrf_resolver::{check_ip_literal, ResolveError};

pub use hook0_core::delivery::{
    E_CONNECTION, E_DNS, E_HTTP, E_INVALID_HEADER, E_INVALID_TARGET, E_TIMEOUT, E_UNKNOWN,
};

/// What the target answered.
struct Answer {
    status: StatusCode,
    headers: StringMap,
    body: Vec<u8>,
    /// The `Retry-After` delay, read on 429 only.
    retry_after: Option<Duration>,
}

/// Why no answer was obtained.
struct Failure {
    error_name: &'static str,
    message: String,
}

impl Failure {
    fn new(error_name: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_name,
            message: message.into(),
        }
    }
}

/// Sends one attempt and reports its outcome; never fails, every problem becomes an outcome.
pub async fn deliver(
    client: &reqwest::Client,
    config: &WorkerConfig,
    job: &DeliveryJob,
) -> DeliveryOutcome {
    let started = Instant::now();
    let result = match prepare(config, job) {
        Ok(Prepared {
            method,
            url,
            headers,
            relay: Some((relay, token, path)),
        }) => hand_over(relay, config, job, method, &url, token, path, headers).await,
        Ok(Prepared {
            method,
            url,
            headers,
            relay: None,
        }) => send(client, config, job, method, url, headers).await,
        Err(failure) => Err(failure),
    };
    let elapsed_time_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    outcome(config, job, result, elapsed_time_ms, Utc::now())
}

/// A request ready to go: to the network, or to this process's relay when `relay` is set.
struct Prepared<'a> {
    method: Method,
    url: Url,
    headers: HeaderMap,
    /// The relay, token and path when the URL is one of this process's relay URLs.
    relay: Option<(&'a dyn LocalRelay, String, String)>,
}

/// Builds method, URL and the signed header set from the target; refuses what cannot be sent.
fn prepare<'a>(config: &'a WorkerConfig, job: &DeliveryJob) -> Result<Prepared<'a>, Failure> {
    let standard_webhooks = !job.standard_webhooks_secrets.is_empty();
    let target = &job.target;
    let method = Method::from_bytes(target.method.as_bytes()).map_err(|_| {
        Failure::new(
            E_INVALID_TARGET,
            format!("invalid method `{}`", target.method),
        )
    })?;
    let url = Url::parse(&target.url)
        .map_err(|e| Failure::new(E_INVALID_TARGET, format!("invalid target URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::new(
            E_INVALID_TARGET,
            "target URL must be http or https",
        ));
    }
    // The relay of this very process is reached in memory, never over the network.
    let relay = local_route(config, &url);
    if !config.disable_target_ip_check && relay.is_none() {
        check_ip_literal(&url).map_err(|e| Failure::new(e.error_name(), e.to_string()))?;
    }

    let invalid = |what: &str| Failure::new(E_INVALID_HEADER, what.to_owned());
    let mut headers = HeaderMap::new();
    for (name, value) in &target.headers {
        // Saved before such headers were refused: the client frames the request itself.
        if hook0_core::delivery::is_framing_header(name) {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(&format!("invalid header name `{name}`")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| invalid(&format!("invalid value for header `{name}`")))?;
        headers.insert(name, value);
    }
    let signature_name = HeaderName::from_bytes(config.signature_header_name.as_bytes())
        .map_err(|_| invalid("invalid signature header name"))?;
    // The signature never covers itself, even if a custom header borrowed its name; nor the
    // Standard Webhooks headers, which replace custom ones of the same names.
    headers.remove(&signature_name);
    if standard_webhooks {
        for name in [
            standard_webhooks::HEADER_ID,
            standard_webhooks::HEADER_TIMESTAMP,
            standard_webhooks::HEADER_SIGNATURE,
        ] {
            headers.remove(name);
        }
    }
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(job.payload_content_type.as_str()),
    );
    headers.insert(
        "x-event-id",
        HeaderValue::from_str(&job.attempt.event_id.to_string())
            .map_err(|_| invalid("invalid event id"))?,
    );
    headers.insert(
        "x-event-type",
        HeaderValue::from_str(&job.event_type_name)
            .map_err(|_| invalid("event type is not a valid header value"))?,
    );

    let mut covered = Vec::with_capacity(headers.len());
    for (name, value) in &headers {
        let value = value
            .to_str()
            .map_err(|_| invalid(&format!("header `{name}` cannot be signed")))?;
        covered.push((name.as_str(), value));
    }
    let timestamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let signature = sign(
        &job.secret.to_string(),
        timestamp,
        &covered,
        &job.payload,
        config.signature_versions,
    );
    let signature =
        HeaderValue::from_str(&signature).map_err(|_| invalid("signature cannot be built"))?;
    headers.insert(signature_name, signature);
    if standard_webhooks {
        sign_standard_webhooks(&mut headers, job, timestamp)?;
    }
    Ok(Prepared {
        method,
        url,
        headers,
        relay,
    })
}

/// Adds `webhook-id`, `webhook-timestamp` and `webhook-signature` (one `v1,…` per live secret).
fn sign_standard_webhooks(
    headers: &mut HeaderMap,
    job: &DeliveryJob,
    timestamp: i64,
) -> Result<(), Failure> {
    let id = job.attempt.event_id.to_string();
    let signature = standard_webhooks::signature_header(
        &job.standard_webhooks_secrets,
        &id,
        timestamp,
        &job.payload,
    )
    .map_err(|e| Failure::new(E_INVALID_HEADER, e.to_string()))?;
    let value = |v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| Failure::new(E_INVALID_HEADER, "Standard Webhooks header cannot be built"))
    };
    headers.insert(standard_webhooks::HEADER_ID, value(&id)?);
    headers.insert(
        standard_webhooks::HEADER_TIMESTAMP,
        value(&timestamp.to_string())?,
    );
    headers.insert(standard_webhooks::HEADER_SIGNATURE, value(&signature)?);
    Ok(())
}

/// The relay token and path when `url` is a relay URL of this process.
fn local_route<'a>(
    config: &'a WorkerConfig,
    url: &Url,
) -> Option<(&'a dyn LocalRelay, String, String)> {
    let relay = config.local_relay.as_ref()?;
    let (token, path) = relay.0.route(url)?;
    Some((relay.0.as_ref(), token, path))
}

/// Delivers to a listener of this process's relay: the same request, passed in memory, with
/// the same timeout; a listener away answers 503 like the relay's URL would.
#[allow(clippy::too_many_arguments)]
async fn hand_over(
    relay: &dyn LocalRelay,
    config: &WorkerConfig,
    job: &DeliveryJob,
    method: Method,
    url: &Url,
    token: String,
    path: String,
    headers: HeaderMap,
) -> Result<Answer, Failure> {
    let request = RelayRequest {
        method: method.to_string(),
        path,
        query: url.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: job.payload.clone(),
    };
    let answered = tokio::time::timeout(config.timeout, relay.forward(token, request)).await;
    let answer = match answered {
        Err(_) | Ok(Err(RelayError::TimedOut)) => {
            return Err(Failure::new(
                E_TIMEOUT,
                "the listener did not answer in time",
            ))
        }
        Ok(Err(refused)) => RelayAnswer {
            status: match refused {
                RelayError::Busy => 429,
                RelayError::Disconnected => 502,
                _ => 503,
            },
            headers: Vec::new(),
            body: refused.to_string().into_bytes(),
        },
        Ok(Ok(answer)) => answer,
    };
    let mut stored = StringMap::new();
    for (name, value) in answer.headers {
        stored.insert(name.to_ascii_lowercase(), value);
    }
    let mut body = answer.body;
    body.truncate(config.max_response_body_bytes);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| stored.get("retry-after"))
        .flatten()
        .and_then(|v| retry_after(v, SystemTime::now()));
    Ok(Answer {
        status,
        headers: stored,
        body,
        retry_after,
    })
}

async fn send(
    client: &reqwest::Client,
    config: &WorkerConfig,
    job: &DeliveryJob,
    method: Method,
    url: Url,
    headers: HeaderMap,
) -> Result<Answer, Failure> {
    let mut response = client
        .request(method, url)
        .headers(headers)
        .body(job.payload.clone())
        .send()
        .await
        .map_err(|e| Failure::new(classify(&e), error_chain(&e)))?;

    let status = response.status();
    let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| response.headers().get(RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, SystemTime::now()));
    let headers = header_map(response.headers());

    // The status already decided the outcome; a body cut short (cap, timeout, reset) is
    // stored as far as it was read.
    let cap = config.max_response_body_bytes;
    let mut body = Vec::new();
    while body.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(cap - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %error_chain(&e), "response body read failed");
                break;
            }
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
        retry_after,
    })
}

/// Most bytes of response headers stored per attempt (names and values): a hostile endpoint
/// could otherwise make every attempt, and every retry of it, store hundreds of KB.
pub const MAX_STORED_HEADER_BYTES: usize = 8 * 1024;

/// Response headers as stored: lowercase names, lossy UTF-8, repeats joined with `, `; at
/// most [`MAX_STORED_HEADER_BYTES`], the headers past it left out (and counted in
/// `x-hook0-headers-truncated`).
fn header_map(headers: &HeaderMap) -> StringMap {
    let mut map = StringMap::new();
    let (mut stored, mut left_out) = (0usize, 0usize);
    for (name, value) in headers {
        let size = name.as_str().len() + value.len();
        if stored + size > MAX_STORED_HEADER_BYTES {
            left_out += 1;
            continue;
        }
        stored += size;
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_owned())
            .and_modify(|joined: &mut String| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    if left_out > 0 {
        map.insert("x-hook0-headers-truncated".into(), left_out.to_string());
    }
    map
}

/// Names a transport error. Our resolver's verdict comes first: reqwest reports it as a
/// connect error, but it is a refused target or a DNS failure.
fn classify(error: &reqwest::Error) -> &'static str {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<ResolveError>() {
            return refused.error_name();
        }
        source = cause.source();
    }
    if error.is_timeout() {
        E_TIMEOUT
    } else if error.is_connect() {
        E_CONNECTION
    } else if error.is_builder() {
        E_INVALID_TARGET
    } else {
        E_UNKNOWN
    }
}

/// The error and its causes on one line, for the stored response body and logs.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn outcome(
    config: &WorkerConfig,
    job: &DeliveryJob,
    result: Result<Answer, Failure>,
    elapsed_time_ms: i64,
    now: DateTime<Utc>,
) -> DeliveryOutcome {
    let retry_count = u32::try_from(job.attempt.retry_count).unwrap_or(0);
    let scheduled = || config.retry.delay_random(retry_count);
    let mut response = Response {
        id: Uuid::now_v7(),
        application_id: job.attempt.application_id,
        error_name: None,
        http_code: None,
        headers: None,
        body: None,
        elapsed_time_ms,
    };
    let (succeeded, delay) = match result {
        Ok(answer) => {
            let succeeded = answer.status.is_success();
            response.http_code = Some(i32::from(answer.status.as_u16()));
            response.headers = Some(answer.headers);
            response.body = Some(answer.body);
            if succeeded {
                (true, None)
            } else {
                response.error_name = Some(E_HTTP.to_owned());
                // Retry-After is a lower bound, and only while retries remain.
                let delay = scheduled().map(|d| answer.retry_after.map_or(d, |ra| d.max(ra)));
                (false, delay)
            }
        }
        Err(failure) => {
            response.error_name = Some(failure.error_name.to_owned());
            response.body = Some(failure.message.into_bytes());
            let delay = (failure.error_name != E_INVALID_HEADER)
                .then(scheduled)
                .flatten();
            (false, delay)
        }
    };
    DeliveryOutcome {
        attempt: job.attempt.clone(),
        succeeded,
        completed_at: now,
        response,
        retry_at: delay.map(|d| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_response_headers_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append("Set-Cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert("x-bin", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let map = header_map(&headers);
        assert_eq!(map["set-cookie"], "a=1, b=2");
        assert_eq!(map["x-bin"], "caf\u{fffd}");
    }
}
