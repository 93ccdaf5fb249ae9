//! Request extractors whose rejections are problems, not axum's plain-text errors: a malformed
//! body, query string or path parameter gets a problem+json answer like every other failure.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use hook0_core::problem::ProblemId;
use hook0_core::validation::ValidationErrors;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;

/// A JSON body (`Content-Type: application/json`); any failure is 400 `JsonPayload`.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::detail(
                ProblemId::JsonPayload,
                "Content-Type header should be set to 'application/json'.",
            )),
            Err(e) => Err(ApiError::detail(ProblemId::JsonPayload, e.body_text())),
        }
    }
}

/// Query parameters; a missing or malformed one is 422 `Validation` naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_problem(e)),
        }
    }
}

fn query_problem(e: QueryRejection) -> ApiError {
    let mut errors = ValidationErrors::default();
    errors.add_with_message("query", "invalid_query", &e.body_text(), json!({}));
    errors.into()
}

/// Path parameters; a malformed id names no resource, so it is 404 `NotFound`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e @ PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::detail(ProblemId::NotFound, e.body_text()))
            }
            Err(e) => Err(ApiError::detail(
                ProblemId::InternalServerError,
                e.body_text(),
            )),
        }
    }
}
