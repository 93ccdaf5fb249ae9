//! `VerifiedWebhook`: an axum extractor that answers 401 to a request whose signature does
//! not verify, and gives the handler the checked body.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::Webhook;

/// The body of a delivery whose signature verified with the state's [`Webhook`].
#[derive(Clone, Debug)]
pub struct VerifiedWebhook {
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
}

impl VerifiedWebhook {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }
}

/// A refused delivery: 401 with the reason as text.
#[derive(Debug)]
pub struct Refused(pub String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::UNAUTHORIZED, self.0).into_response()
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    Webhook: FromRef<S>,
{
    type Rejection = Refused;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let webhook = Webhook::from_ref(state);
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| Refused(e.to_string()))?;
        webhook
            .verify(&headers, &body)
            .map_err(|e| Refused(e.to_string()))?;
        Ok(Self { headers, body })
    }
}
