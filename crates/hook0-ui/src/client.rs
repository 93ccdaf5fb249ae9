//! The dashboard's way to the data: the public REST API, called in-process with the user's
//! token. Every page therefore gets exactly the API's authorization, validation and problems:
//! the UI can show nothing and do nothing the API would refuse.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// Largest API answer a page reads (pages ask for bounded lists).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The API router, called without a network hop.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// One API answer: its status and JSON body (`Null` when empty).
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    /// The `pagination_cursor` of the answer's `Link: <…>; rel="next"`, when there is a next page.
    pub next_cursor: Option<String>,
}

/// What a page shows of a refused call: the API's problem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problem {
    pub id: String,
    pub title: String,
    pub detail: String,
    /// Messages per field of a 422 `Validation` problem.
    pub fields: Vec<(String, String)>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The problem of a failed call (a generic one when the body is not a problem).
    pub fn problem(&self) -> Problem {
        let text = |key: &str| self.body[key].as_str().unwrap_or_default().to_owned();
        let mut fields = Vec::new();
        if let Some(validation) = self.body["validation"].as_object() {
            for (field, errors) in validation {
                for error in errors.as_array().into_iter().flatten() {
                    let message = error["message"]
                        .as_str()
                        .or_else(|| error["code"].as_str())
                        .unwrap_or("invalid");
                    fields.push((field.clone(), message.to_owned()));
                }
            }
        }
        Problem {
            id: text("id"),
            title: if text("title").is_empty() {
                format!("The server answered {}", self.status)
            } else {
                text("title")
            },
            detail: text("detail"),
            fields,
        }
    }

    /// The problem id, for deciding what to do (`AuthInvalidBiscuit`, …).
    pub fn problem_id(&self) -> &str {
        self.body["id"].as_str().unwrap_or_default()
    }
}

impl Api {
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// Calls `METHOD /api/v1{path}` with `token` as Bearer and `body` as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        let Ok(request) = request else {
            return internal_error();
        };
        let Ok(response) = self.router.clone().oneshot(request).await;
        let status = response.status();
        let next_cursor = response
            .headers()
            .get(header::LINK)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.split("pagination_cursor=").nth(1))
            .map(|rest| rest.split(['>', '&']).next().unwrap_or_default().to_owned())
            .filter(|c| !c.is_empty());
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Answer {
            status,
            body,
            next_cursor,
        }
    }
}

fn internal_error() -> Answer {
    Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: Value::Null,
        next_cursor: None,
    }
}
