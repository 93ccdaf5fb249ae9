//! Verifying a delivery on the receiving side: the `X-Hook0-Signature` header with the
//! subscription's secret (a UUID), or the Standard Webhooks headers with a `whsec_…` secret.

use hook0_core::{signature, standard_webhooks};
use http::HeaderMap;

/// The signature header Hook0 sends (its name is configurable on the server, not here).
pub const SIGNATURE_HEADER: &str = "x-hook0-signature";

/// Why a delivery was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the request has no {0} header")]
    MissingHeader(&'static str),
    #[error("the {0} header is not text")]
    UnreadableHeader(&'static str),
    #[error(transparent)]
    Hook0(#[from] signature::Refusal),
    #[error(transparent)]
    StandardWebhooks(#[from] standard_webhooks::Refusal),
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
}

/// A receiver's key: the subscription secret, and how far a signature's time may be from now.
#[derive(Clone, Debug)]
pub struct Webhook {
    secret: String,
    tolerance_secs: i64,
}

impl Webhook {
    /// `secret` is the subscription's `secret` (checks `X-Hook0-Signature`) or one of its
    /// `whsec_…` Standard Webhooks secrets (checks `webhook-signature`). Tolerance: 5 minutes.
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.trim().to_owned(),
            tolerance_secs: 300,
        }
    }

    pub fn with_tolerance(mut self, seconds: i64) -> Self {
        self.tolerance_secs = seconds;
        self
    }

    /// Checks a received request now.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
        self.verify_at(headers, body, chrono::Utc::now().timestamp())
    }

    /// Checks a received request as if it were `now` (unix seconds).
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        let text = |name: &'static str| -> Result<&str, WebhookError> {
            headers
                .get(name)
                .ok_or(WebhookError::MissingHeader(name))?
                .to_str()
                .map_err(|_| WebhookError::UnreadableHeader(name))
        };
        if self.secret.starts_with(standard_webhooks::SECRET_PREFIX) {
            let id = text(standard_webhooks::HEADER_ID)?;
            let timestamp = text(standard_webhooks::HEADER_TIMESTAMP)?
                .trim()
                .parse::<i64>()
                .map_err(|_| WebhookError::BadTimestamp)?;
            let signature = text(standard_webhooks::HEADER_SIGNATURE)?;
            standard_webhooks::verify(
                &self.secret,
                id,
                timestamp,
                body,
                signature,
                now,
                self.tolerance_secs,
            )?;
            return Ok(());
        }
        let header = text(SIGNATURE_HEADER)?;
        let delivered = |name: &str| {
            headers
                .get(name.to_ascii_lowercase().as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        signature::verify(
            header,
            body,
            &delivered,
            &self.secret,
            now,
            self.tolerance_secs,
        )?;
        Ok(())
    }
}
