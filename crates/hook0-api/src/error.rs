//! The one place where failures become HTTP answers: RFC 7807 `application/problem+json` bodies
//! carrying upstream's stable problem `id`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hook0_core::problem::{Problem, ProblemId};
use hook0_core::validation::ValidationErrors;
use hook0_store::StoreError;

/// An error answer. Handlers return `Result<_, ApiError>` and never build error bodies themselves.
#[derive(Debug)]
pub struct ApiError(pub Problem);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(id: ProblemId) -> Self {
        Self(Problem::from(id))
    }

    pub fn detail(id: ProblemId, detail: impl Into<String>) -> Self {
        Self(Problem::from(id).with_detail(detail))
    }

    pub fn not_found() -> Self {
        Self::new(ProblemId::NotFound)
    }

    pub fn forbidden() -> Self {
        Self::new(ProblemId::Forbidden)
    }
}

impl From<ProblemId> for ApiError {
    fn from(id: ProblemId) -> Self {
        Self::new(id)
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self(Problem::from(ProblemId::Validation).with_validation(errors.into_json()))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EventAlreadyIngested => Self::new(ProblemId::EventAlreadyIngested),
            StoreError::EventTypeDoesNotExist(name) => Self::detail(
                ProblemId::EventTypeDoesNotExist,
                format!("Event type '{name}' does not exist in this application."),
            ),
            StoreError::OrganizationIsNotEmpty => Self::new(ProblemId::OrganizationIsNotEmpty),
            StoreError::UserAlreadyExist => Self::new(ProblemId::UserAlreadyExist),
            StoreError::InvitedUserAlreadyInOrganization => {
                Self::new(ProblemId::InvitedUserAlreadyInOrganization)
            }
            StoreError::QuotaReached(quota) => Self::new(quota.problem()),
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable; answering 503");
                Self::new(ProblemId::ServiceUnavailable)
            }
            StoreError::Database(reason) => {
                tracing::error!(%reason, "database error");
                Self::new(ProblemId::InternalServerError)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).expect("problems always serialize");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
