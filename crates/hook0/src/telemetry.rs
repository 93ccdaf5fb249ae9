//! Logs and traces. Logs go to stderr, human-readable by default or one JSON object per line
//! with `LOG_FORMAT=json`, filtered by `RUST_LOG` (default `info`). Traces are exported over
//! OTLP (HTTP/protobuf) when `OTLP_TRACES_ENDPOINT` is set (upstream's name), with
//! `OTLP_AUTHORIZATION` as the `Authorization` header; nothing is exported otherwise.
//!
//! Spans: `http_request` per API request (method, route template, status, latency) and
//! `request_attempt` per delivery (application, event, subscription and attempt ids, retry
//! count, outcome). Neither records headers, tokens or payloads.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where to send traces.
#[derive(Clone, Debug, Default)]
pub struct TraceExport {
    /// `OTLP_TRACES_ENDPOINT`: a collector's OTLP/HTTP traces URL (`…/v1/traces` is added when
    /// the URL has no path).
    pub endpoint: Option<String>,
    /// `OTLP_AUTHORIZATION`: sent as the `Authorization` header.
    pub authorization: Option<String>,
}

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("flushing traces failed: {error}");
            }
        }
    }
}

/// Installs the global subscriber. Call it outside the async runtime: the OTLP exporter runs on
/// its own thread with a blocking HTTP client.
pub fn init(log_format: &str, traces: &TraceExport) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match log_format {
        "json" => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        "text" | "" => tracing_subscriber::fmt::layer().boxed(),
        other => anyhow::bail!("LOG_FORMAT must be `text` or `json`, not `{other}`"),
    };
    let registry = tracing_subscriber::registry().with(filter).with(logs);

    #[cfg(feature = "otlp")]
    {
        let provider = traces
            .endpoint
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|endpoint| otlp::provider(endpoint, traces.authorization.as_deref()))
            .transpose()?;
        let layer = provider.as_ref().map(otlp::layer);
        registry.with(layer).init();
        if let Some(endpoint) = &traces.endpoint {
            tracing::info!(%endpoint, "exporting traces over OTLP");
        }
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otlp"))]
    {
        registry.init();
        if traces.endpoint.is_some() || traces.authorization.is_some() {
            tracing::warn!("OTLP_TRACES_ENDPOINT is set, but this build has no `otlp` feature");
        }
        Ok(Telemetry {})
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use std::collections::HashMap;

    use anyhow::Context;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;

    /// The traces URL: the endpoint as given, or with `/v1/traces` when it names only a host.
    pub fn traces_url(endpoint: &str) -> String {
        let trimmed = endpoint.trim_end_matches('/');
        let has_path = trimmed
            .split_once("://")
            .map_or(trimmed, |(_, rest)| rest)
            .contains('/');
        if has_path {
            trimmed.to_owned()
        } else {
            format!("{trimmed}/v1/traces")
        }
    }

    pub fn provider(
        endpoint: &str,
        authorization: Option<&str>,
    ) -> anyhow::Result<SdkTracerProvider> {
        let mut headers = HashMap::new();
        if let Some(value) = authorization.filter(|v| !v.is_empty()) {
            headers.insert("authorization".to_owned(), value.to_owned());
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url(endpoint))
            .with_headers(headers)
            .build()
            .context("OTLP_TRACES_ENDPOINT: cannot build the trace exporter")?;
        let resource = Resource::builder()
            .with_service_name("hook0")
            .with_attribute(opentelemetry::KeyValue::new("service.namespace", "hook0"))
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build())
    }

    pub fn layer<S>(
        provider: &SdkTracerProvider,
    ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("hook0"))
    }

    #[cfg(test)]
    mod tests {
        use super::traces_url;

        #[test]
        fn a_bare_endpoint_gets_the_traces_path() {
            assert_eq!(
                traces_url("http://collector:4318"),
                "http://collector:4318/v1/traces"
            );
            assert_eq!(
                traces_url("http://collector:4318/"),
                "http://collector:4318/v1/traces"
            );
            assert_eq!(
                traces_url("https://x.io/otlp/v1/traces"),
                "https://x.io/otlp/v1/traces"
            );
        }
    }
}
