//! `/subscriptions`: routing rules (event types + labels) to an HTTP target, with the secret
//! deliveries are signed with. PUT is a full replacement; disabling or deleting fails the
//! subscription's pending attempts.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hook0_core::model::{now, HttpTarget, StringMap, Subscription};
use hook0_core::problem::ProblemId;
use hook0_core::validation::{MapLimits, ValidationErrors};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

const METHODS: [&str; 7] = ["GET", "PATCH", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"];

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TargetPost {
    Http {
        method: String,
        url: String,
        #[serde(default)]
        headers: StringMap,
    },
}

#[derive(Deserialize)]
pub struct SubscriptionPost {
    application_id: Uuid,
    is_enabled: bool,
    event_types: Vec<String>,
    description: Option<String>,
    metadata: Option<StringMap>,
    labels: Option<StringMap>,
    label_key: Option<String>,
    label_value: Option<String>,
    target: TargetPost,
    dedicated_workers: Option<Vec<String>>,
}

impl SubscriptionPost {
    /// Checks every rule and yields the target and labels; `labels` wins over the legacy pair.
    fn validate(&self) -> ApiResult<(HttpTarget, StringMap)> {
        let TargetPost::Http { method, url, headers } = &self.target;
        let parsed = url::Url::parse(url)
            .map_err(|e| ApiError::detail(ProblemId::JsonPayload, format!("target.url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
            return Err(ApiError::detail(ProblemId::JsonPayload, "target.url must be an http(s) URL with a host."));
        }
        let labels = match (&self.labels, &self.label_key, &self.label_value) {
            (Some(labels), _, _) => labels.clone(),
            (None, Some(k), Some(v)) => StringMap::from([(k.clone(), v.clone())]),
            _ => return Err(ProblemId::LabelsAmbiguity.into()),
        };
        let mut errors = ValidationErrors::default();
        if self.event_types.is_empty() || self.event_types.len() > 100 {
            errors.add("event_types", "length", json!({ "min": 1, "max": 100 }));
        }
        for name in &self.event_types {
            errors.check_len("event_types", name, 1, 200);
        }
        if let Some(d) = &self.description {
            errors.check_len("description", d, 1, 100);
        }
        if let Some(m) = &self.metadata {
            errors.check_map("metadata", m.iter(), MapLimits::METADATA);
        }
        if self.labels.is_some() {
            errors.check_map("labels", labels.iter(), MapLimits::LABELS);
        } else {
            errors.check_len("label_key", self.label_key.as_deref().unwrap_or_default(), 1, 100);
            errors.check_len("label_value", self.label_value.as_deref().unwrap_or_default(), 1, 100);
        }
        if !METHODS.contains(&method.as_str()) {
            errors.add("target.method", "method", json!({ "value": method }));
        }
        errors.check_len("target.url", url, 1, 1000);
        if headers.len() > 10 {
            errors.add("target.headers", "length", json!({ "max": 10 }));
        }
        for (name, value) in headers {
            if name.len() > 500 || value.len() > 500 {
                errors.add("target.headers", "length", json!({ "max": 500, "value": name }));
            }
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err() {
                errors.add("target.headers", "header", json!({ "value": name }));
            }
        }
        if let Some(workers) = &self.dedicated_workers {
            for w in workers {
                errors.check_len("dedicated_workers", w, 1, 20);
            }
        }
        errors.into_result()?;
        let target = HttpTarget { method: method.clone(), url: url.clone(), headers: headers.clone() };
        Ok((target, labels))
    }

    /// `created_at` is only kept on create; updates keep the stored one.
    fn into_subscription(self, id: Uuid, secret: Uuid, created_at: DateTime<Utc>) -> ApiResult<Subscription> {
        let (target, labels) = self.validate()?;
        Ok(Subscription {
            id,
            application_id: self.application_id,
            is_enabled: self.is_enabled,
            event_types: self.event_types,
            description: self.description,
            secret,
            metadata: self.metadata.unwrap_or_default(),
            labels,
            target,
            dedicated_workers: self.dedicated_workers.unwrap_or_default(),
            created_at,
            updated_at: created_at,
        })
    }
}

#[derive(Serialize)]
pub struct TargetBody {
    #[serde(rename = "type")]
    kind: &'static str,
    method: String,
    url: String,
    headers: StringMap,
}

#[derive(Serialize)]
pub struct SubscriptionBody {
    application_id: Uuid,
    subscription_id: Uuid,
    is_enabled: bool,
    event_types: Vec<String>,
    description: Option<String>,
    secret: Uuid,
    metadata: StringMap,
    label_key: String,
    label_value: String,
    labels: StringMap,
    target: TargetBody,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    dedicated_workers: Vec<String>,
}

impl From<Subscription> for SubscriptionBody {
    fn from(s: Subscription) -> Self {
        let (label_key, label_value) = s.labels.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap_or_default();
        Self {
            application_id: s.application_id,
            subscription_id: s.id,
            is_enabled: s.is_enabled,
            event_types: s.event_types,
            description: s.description,
            secret: s.secret,
            metadata: s.metadata,
            label_key,
            label_value,
            labels: s.labels,
            target: TargetBody { kind: "http", method: s.target.method, url: s.target.url, headers: s.target.headers },
            created_at: s.created_at,
            updated_at: s.updated_at,
            dedicated_workers: s.dedicated_workers,
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<SubscriptionBody>>> {
    principal.authorize_app(&state, q.application_id, Action::SubscriptionList).await?;
    let subs = state.store.list_subscriptions(q.application_id).await?;
    Ok(axum::Json(subs.into_iter().map(Into::into).collect()))
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<SubscriptionPost>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionBody>)> {
    principal.authorize_app(&state, body.application_id, Action::SubscriptionCreate).await?;
    let sub = body.into_subscription(Uuid::new_v4(), Uuid::new_v4(), now())?;
    state.store.create_subscription(&sub).await?;
    Ok((StatusCode::CREATED, axum::Json(sub.into())))
}

pub async fn get(State(state): State<AppState>, principal: Principal, Path(id): Path<Uuid>) -> ApiResult<axum::Json<SubscriptionBody>> {
    // The application is resolved from the subscription, as upstream does.
    let sub = state.store.get_subscription(id).await?.ok_or_else(ApiError::not_found)?;
    principal.authorize_app(&state, sub.application_id, Action::SubscriptionGet).await?;
    Ok(axum::Json(sub.into()))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<SubscriptionPost>,
) -> ApiResult<axum::Json<SubscriptionBody>> {
    principal.authorize_app(&state, body.application_id, Action::SubscriptionEdit).await?;
    let sub = body.into_subscription(id, Uuid::nil(), now())?;
    let updated = state.store.update_subscription(&sub).await?.ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(updated.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<StatusCode> {
    principal.authorize_app(&state, q.application_id, Action::SubscriptionDelete).await?;
    if state.store.delete_subscription(q.application_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
