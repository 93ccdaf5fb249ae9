//! The customer's subscriptions: only those carrying every label of the session; a new or
//! edited one always carries them, and the customer cannot drop or change one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hook0_core::model::{now, Event, PayloadContentType, StringMap};
use hook0_core::portal::Capability;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PortalAccess;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::routes::subscriptions::{
    answer, bodies, SubscriptionBody, SubscriptionPost, TargetPost,
};
use crate::state::AppState;

/// A subscription as the customer writes it: where to deliver which event types.
#[derive(Deserialize, ToSchema)]
pub struct PortalSubscriptionPost {
    /// Default: true.
    is_enabled: Option<bool>,
    /// Names from `GET /portal/event_types`.
    event_types: Vec<String>,
    description: Option<String>,
    /// Labels added to the session's own, which every subscription of the portal carries and
    /// which cannot be changed here.
    #[serde(default)]
    labels: StringMap,
    target: TargetPost,
}

impl PortalSubscriptionPost {
    /// The API's own subscription request, with the scope's labels forced in; refuses labels
    /// that contradict the scope and event types outside the application's catalog.
    async fn scoped(self, state: &AppState, access: &PortalAccess) -> ApiResult<SubscriptionPost> {
        let session = &access.0;
        let mut errors = ValidationErrors::default();
        for (key, value) in &self.labels {
            if session
                .labels
                .get(key)
                .is_some_and(|scoped| scoped != value)
            {
                errors.add_with_message(
                    "labels",
                    "scope",
                    &format!("`{key}` is set by your portal session and cannot be changed"),
                    json!({ "value": key }),
                );
            }
        }
        let catalog: Vec<String> = state
            .store
            .list_event_types(session.application_id)
            .await?
            .iter()
            .map(|t| t.name())
            .collect();
        for name in &self.event_types {
            if !catalog.contains(name) {
                errors.add_with_message(
                    "event_types",
                    "unknown",
                    &format!("`{name}` is not an event type of this application"),
                    json!({ "value": name }),
                );
            }
        }
        errors.into_result()?;
        let mut labels = self.labels;
        labels.extend(session.labels.clone());
        Ok(SubscriptionPost {
            application_id: session.application_id,
            is_enabled: self.is_enabled.unwrap_or(true),
            event_types: self.event_types,
            description: self.description,
            metadata: None,
            labels: Some(labels),
            label_key: None,
            label_value: None,
            target: self.target,
            dedicated_workers: None,
            standard_webhooks: None,
            ordering_label: None,
            ordering_on_dead_letter: None,
        })
    }
}

#[utoipa::path(
    get,
    path = "/portal/subscriptions",
    operation_id = "portal.subscriptions.list",
    tag = "portal",
    security(("portal_session" = [])),
    responses((status = 200, description = "The scope's live subscriptions, oldest first; secrets hidden", body = Vec<SubscriptionBody>))
)]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    access: PortalAccess,
) -> ApiResult<axum::Json<Vec<SubscriptionBody>>> {
    access.require(Capability::View)?;
    let subs = state
        .store
        .list_subscriptions(access.0.application_id)
        .await?
        .into_iter()
        .filter(|s| access.0.covers(s))
        .collect();
    let bodies = bodies(&state, subs).await?;
    Ok(axum::Json(
        bodies
            .into_iter()
            .map(SubscriptionBody::without_secrets)
            .collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/portal/subscriptions",
    operation_id = "portal.subscriptions.create",
    tag = "portal",
    security(("portal_session" = [])),
    request_body = PortalSubscriptionPost,
    responses((status = 201, description = "Created, carrying the session's labels", body = SubscriptionBody))
)]
pub async fn create_subscription(
    State(state): State<AppState>,
    access: PortalAccess,
    Json(body): Json<PortalSubscriptionPost>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionBody>)> {
    access.require(Capability::ManageSubscriptions)?;
    let post = body.scoped(&state, &access).await?;
    let sub = post.into_subscription(Uuid::new_v4(), Uuid::new_v4(), now(), None)?;
    let limit = state
        .config
        .quotas
        .global(hook0_core::quota::Quota::SubscriptionsPerApplication);
    state.store.create_subscription_within(&sub, limit).await?;
    let body = answer(&state, sub).await?.without_secrets();
    Ok((StatusCode::CREATED, axum::Json(body)))
}

#[utoipa::path(
    get,
    path = "/portal/subscriptions/{id}",
    operation_id = "portal.subscriptions.get",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription, secrets hidden", body = SubscriptionBody))
)]
pub async fn get_subscription(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<SubscriptionBody>> {
    access.require(Capability::View)?;
    let sub = access.subscription(&state, id).await?;
    Ok(axum::Json(answer(&state, sub).await?.without_secrets()))
}

#[utoipa::path(
    put,
    path = "/portal/subscriptions/{id}",
    operation_id = "portal.subscriptions.update",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    request_body = PortalSubscriptionPost,
    responses((status = 200, description = "Replaced (its secret, metadata and the session's labels kept); disabling fails its pending attempts", body = SubscriptionBody))
)]
pub async fn update_subscription(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
    Json(body): Json<PortalSubscriptionPost>,
) -> ApiResult<axum::Json<SubscriptionBody>> {
    access.require(Capability::ManageSubscriptions)?;
    let stored = access.subscription(&state, id).await?;
    let post = body.scoped(&state, &access).await?;
    // Ordering is the sender's choice: the customer's request leaves it as it is.
    let mut sub = post.into_subscription(id, Uuid::nil(), now(), stored.ordering.as_ref())?;
    // What the sender set and the customer cannot see stays as it was.
    sub.metadata = stored.metadata;
    sub.dedicated_workers = stored.dedicated_workers;
    let updated = state
        .store
        .update_subscription(&sub)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(answer(&state, updated).await?.without_secrets()))
}

#[utoipa::path(
    delete,
    path = "/portal/subscriptions/{id}",
    operation_id = "portal.subscriptions.delete",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 204, description = "Deleted; its pending attempts are failed"))
)]
pub async fn delete_subscription(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    access.require(Capability::ManageSubscriptions)?;
    let sub = access.subscription(&state, id).await?;
    if state
        .store
        .delete_subscription(sub.application_id, sub.id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// A subscription's signing secrets.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalSecret)]
pub struct SecretBody {
    /// The HMAC key of `X-Hook0-Signature` (as a string).
    secret: String,
    /// Standard Webhooks secrets (`whsec_…`), when the subscription uses them.
    standard_webhooks_secrets: Vec<String>,
}

/// The signing secrets of subscription `id`, whose Hook0 secret is `secret`.
async fn secret_body(state: &AppState, id: Uuid, secret: Uuid) -> ApiResult<SecretBody> {
    let protection = state.store.subscription_protection(&[id]).await?;
    Ok(SecretBody {
        secret: secret.to_string(),
        standard_webhooks_secrets: protection
            .get(&id)
            .map(|p| {
                p.standard_webhooks_secrets
                    .iter()
                    .map(|s| s.secret.clone())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[utoipa::path(
    get,
    path = "/portal/subscriptions/{id}/secret",
    operation_id = "portal.subscriptions.secret",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "The signing secrets (capability `view_secret`)", body = SecretBody))
)]
pub async fn reveal_secret(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<SecretBody>> {
    access.require(Capability::ViewSecret)?;
    let sub = access.subscription(&state, id).await?;
    Ok(axum::Json(secret_body(&state, id, sub.secret).await?))
}

#[utoipa::path(
    post,
    path = "/portal/subscriptions/{id}/secret/rotate",
    operation_id = "portal.subscriptions.rotateSecret",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "A new Hook0 signing secret, in use from the next delivery on (capability `rotate_secret`; the answer shows it only with `view_secret`)", body = SecretBody))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Value>> {
    access.require(Capability::RotateSecret)?;
    let sub = access.subscription(&state, id).await?;
    let secret = Uuid::new_v4();
    if !state
        .store
        .set_subscription_secret(sub.application_id, id, secret, now())
        .await?
    {
        return Err(ApiError::not_found());
    }
    if access.0.allows(Capability::ViewSecret) {
        let body = secret_body(&state, id, secret).await?;
        return Ok(axum::Json(serde_json::to_value(body).expect("serializes")));
    }
    Ok(axum::Json(json!({ "rotated": true })))
}

#[derive(Deserialize, ToSchema)]
pub struct TestEventPost {
    /// One of the subscription's event types; default its first.
    event_type: Option<String>,
    /// The JSON payload; default `{"test": true, "sent_from": "hook0 portal"}`.
    payload: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TestEventBody {
    event_id: Uuid,
    request_attempt_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/portal/subscriptions/{id}/test",
    operation_id = "portal.subscriptions.test",
    tag = "portal",
    security(("portal_session" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    request_body = TestEventPost,
    responses(
        (status = 201, description = "A test event, delivered to this subscription only (capability `send_test`)", body = TestEventBody),
        (status = 429, description = "More than 5 test events to this subscription at once, then more than one per 10 s (`RateLimited`, `Retry-After`)"),
    )
)]
pub async fn send_test(
    State(state): State<AppState>,
    access: PortalAccess,
    Path(id): Path<Uuid>,
    Json(body): Json<TestEventPost>,
) -> Response {
    send_test_within_limit(&state, &access, id, body)
        .await
        .unwrap_or_else(|refused| refused)
}

async fn send_test_within_limit(
    state: &AppState,
    access: &PortalAccess,
    id: Uuid,
    body: TestEventPost,
) -> Result<Response, Response> {
    access
        .require(Capability::SendTest)
        .map_err(IntoResponse::into_response)?;
    let sub = access
        .subscription(state, id)
        .await
        .map_err(IntoResponse::into_response)?;
    state.config.portal_test_sends.check(sub.id)?;
    test_event(state, sub, body)
        .await
        .map(IntoResponse::into_response)
        .map_err(IntoResponse::into_response)
}

async fn test_event(
    state: &AppState,
    sub: hook0_core::model::Subscription,
    body: TestEventPost,
) -> ApiResult<(StatusCode, axum::Json<TestEventBody>)> {
    let event_type = body
        .event_type
        .or_else(|| sub.event_types.first().cloned())
        .unwrap_or_default();
    if !sub.event_types.contains(&event_type) {
        let mut errors = ValidationErrors::default();
        errors.add_with_message(
            "event_type",
            "not_subscribed",
            "must be one of the subscription's event types",
            json!({ "value": event_type }),
        );
        return Err(errors.into());
    }
    if !sub.is_enabled {
        let mut errors = ValidationErrors::default();
        errors.add_with_message(
            "subscription",
            "disabled",
            "enable the subscription to send it a test event",
            json!({}),
        );
        return Err(errors.into());
    }
    let payload = body
        .payload
        .unwrap_or_else(|| json!({ "test": true, "sent_from": "hook0 portal" }));
    let received_at = state.config.clock.now();
    let event = Event {
        id: Uuid::now_v7(),
        application_id: sub.application_id,
        event_type_name: event_type,
        payload: payload.to_string().into_bytes(),
        payload_content_type: PayloadContentType::Json,
        ip: None,
        metadata: StringMap::from([("hook0_portal_test".to_owned(), "true".to_owned())]),
        labels: sub.labels.clone(),
        occurred_at: received_at,
        received_at,
    };
    let attempt = state
        .store
        .ingest_test_event(&event, sub.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TestEventBody {
            event_id: event.id,
            request_attempt_id: attempt,
        }),
    ))
}
