//! What can go wrong calling the API, and whether trying again can help.

use std::time::Duration;

pub use hook0_core::problem::Problem;

/// Problem ids a retry can cure: the server was busy or failed, not the request.
const RETRYABLE_PROBLEMS: [&str; 5] = [
    "AuthApplicationSecretLookupError",
    "AuthBiscuitLookupError",
    "InternalServerError",
    "RateLimited",
    "ServiceUnavailable",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused the request with a problem (RFC 7807).
    #[error("{} ({}): {}", problem.title, problem.id, problem.detail)]
    Api {
        status: u16,
        problem: Box<Problem>,
        /// The server's `Retry-After`, in whole seconds, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer: the server could not be reached, or the connection broke.
    #[error("no answer from {url}: {message}")]
    Transport { url: String, message: String },
    /// An answer that is not what the API sends (wrong JSON, or too large).
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The call was refused before being sent (a bad API URL, an invalid argument).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Whether sending the same request again may succeed. The problem id decides first
    /// (a 503 whose problem is not a lookup or availability one is final), then the status.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api {
                status, problem, ..
            } => {
                if !problem.id.is_empty() {
                    RETRYABLE_PROBLEMS.contains(&problem.id.as_str())
                } else {
                    *status >= 500
                }
            }
            Error::Transport { .. } => true,
            Error::Unexpected(_) | Error::Invalid(_) => false,
        }
    }

    /// The problem id, when the API answered with one.
    pub fn problem_id(&self) -> Option<&str> {
        match self {
            Error::Api { problem, .. } => Some(problem.id.as_str()),
            _ => None,
        }
    }

    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, id: &str) -> Error {
        Error::Api {
            status,
            problem: Box::new(Problem {
                type_url: String::new(),
                status,
                title: String::new(),
                detail: String::new(),
                id: id.into(),
                validation: None,
            }),
            retry_after: None,
        }
    }

    #[test]
    fn the_problem_id_decides_before_the_status() {
        assert!(api(503, "ServiceUnavailable").is_retryable());
        assert!(api(500, "InternalServerError").is_retryable());
        assert!(api(429, "RateLimited").is_retryable());
        assert!(api(500, "AuthBiscuitLookupError").is_retryable());
        assert!(!api(409, "EventAlreadyIngested").is_retryable());
        assert!(!api(422, "Validation").is_retryable());
        assert!(!api(403, "Forbidden").is_retryable());
        // A 5xx with a final problem id is final.
        assert!(!api(503, "TooManyEventsToday").is_retryable());
        // No problem id (a proxy's page): the status decides.
        assert!(api(502, "").is_retryable());
        assert!(!api(404, "").is_retryable());
    }
}
