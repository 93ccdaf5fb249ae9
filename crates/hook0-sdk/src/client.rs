//! The HTTP client: one request with the API's headers, its answer decoded or turned into a
//! typed [`Error`], and the retries of [`RetryPolicy`].

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Problem;
use crate::{Error, RetryPolicy};

/// The largest answer read (a page of attempts with their bodies stays far below).
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// A client of one Hook0 API, authenticated by an application secret, a service token or a
/// user's access token (any `Bearer` credential the API takes).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    /// The API root, with `/api/v1` and no trailing slash.
    api_url: String,
    retry: RetryPolicy,
}

impl Client {
    /// `api_url` is the API root as upstream's tools take it (`https://host/api/v1`); a bare
    /// `https://host` gets `/api/v1` added.
    pub fn new(api_url: &str, token: &str) -> Result<Self, Error> {
        let mut api_url = api_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&api_url)
            .map_err(|e| Error::Invalid(format!("the API URL `{api_url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Invalid(format!(
                "the API URL `{api_url}` must start with http:// or https://"
            )));
        }
        if !api_url.ends_with("/api/v1") {
            api_url.push_str("/api/v1");
        }
        let mut headers = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| Error::Invalid("the token is not a valid header value".into()))?;
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("hook0-sdk-rust/", env!("CARGO_PKG_VERSION"))),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            api_url,
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with another retry policy ([`RetryPolicy::none`] to never retry).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The API root this client calls (`…/api/v1`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Calls the API and decodes its JSON answer, retrying as the policy says.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let bytes = self.call_raw(method, path, query, body).await?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| Error::Unexpected(format!("{path}: {e}")))
    }

    /// Calls the API, retrying as the policy says; the answer's bytes. A retried request that
    /// finally fails returns the last error; `attempts` says how many were made.
    pub(crate) async fn call_raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<bytes::Bytes, Error> {
        self.call_counted(method, path, query, body)
            .await
            .map(|(bytes, _)| bytes)
            .map_err(|(error, _)| error)
    }

    /// Like [`Client::call_raw`], also saying how many attempts were made.
    pub(crate) async fn call_counted(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(bytes::Bytes, u32), (Error, u32)> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match self.once(method.clone(), path, query, body).await {
                Ok(bytes) => return Ok((bytes, attempt)),
                Err(error) => match self.retry.delay(attempt, started.elapsed(), &error) {
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    None => return Err((error, attempt)),
                },
            }
        }
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<bytes::Bytes, Error> {
        let url = format!("{}{path}", self.api_url);
        let mut request = self.http.request(method, &url).query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |e: reqwest::Error| Error::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(Error::Unexpected(format!(
                "{path}: an answer larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(bytes);
        }
        let problem = serde_json::from_slice::<Problem>(&bytes).unwrap_or_else(|_| Problem {
            type_url: String::new(),
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            id: String::new(),
            validation: None,
        });
        Err(Error::Api {
            status: status.as_u16(),
            problem: Box::new(problem),
            retry_after,
        })
    }
}
