//! `/subscriptions`: routing rules (event types + labels) to an HTTP target, with the secret
//! deliveries are signed with. PUT is a full replacement; disabling or deleting fails the
//! subscription's pending attempts.
//!
//! Added to upstream's shape (upstream clients ignore them): `circuit`, the state of the
//! subscription's circuit breaker; `standard_webhooks` (also accepted on POST/PUT, left as it
//! is when absent) with `standard_webhooks_secrets`, the live Standard Webhooks signing secrets;
//! and `POST /subscriptions/{id}/secrets/rotate`, which adds a secret and lets the previous ones
//! expire after an overlap during which both sign.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hook0_core::circuit::Circuit;
use hook0_core::model::{
    now, HttpTarget, OnDeadLetter, Ordering, SigningSecret, StringMap, Subscription,
};
use hook0_core::problem::ProblemId;
use hook0_core::quota::Quota;
use hook0_core::standard_webhooks;
use hook0_core::validation::{MapLimits, ValidationErrors};
use hook0_store::SubscriptionProtection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Detail, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

const METHODS: [&str; 7] = ["GET", "PATCH", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"];

#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TargetPost {
    Http {
        method: String,
        url: String,
        #[serde(default)]
        headers: StringMap,
    },
}

#[derive(Deserialize, ToSchema)]
pub struct SubscriptionPost {
    pub(crate) application_id: Uuid,
    pub(crate) is_enabled: bool,
    pub(crate) event_types: Vec<String>,
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<StringMap>,
    pub(crate) labels: Option<StringMap>,
    pub(crate) label_key: Option<String>,
    pub(crate) label_value: Option<String>,
    pub(crate) target: TargetPost,
    pub(crate) dedicated_workers: Option<Vec<String>>,
    /// Opt in (or out) of Standard Webhooks signing; absent leaves it as it is.
    pub(crate) standard_webhooks: Option<bool>,
    /// Ordered delivery per key: the event label whose value is the key. Events carrying it
    /// are delivered one at a time per value, in ingest order. Absent leaves it as it is;
    /// `null` turns ordering off (what waits is let go).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub(crate) ordering_label: Option<Option<String>>,
    /// What a key does when its delivery becomes a dead letter: `hold` (default: the key waits
    /// until it is redelivered) or `continue` (the next one goes). Absent leaves it as it is.
    pub(crate) ordering_on_dead_letter: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, by `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl SubscriptionPost {
    /// The labels asked for, before validation: the authorizer's `labels` fact.
    fn requested_labels(&self) -> StringMap {
        match (&self.labels, &self.label_key, &self.label_value) {
            (Some(labels), _, _) => labels.clone(),
            (None, Some(k), Some(v)) => StringMap::from([(k.clone(), v.clone())]),
            _ => StringMap::new(),
        }
    }

    /// Checks every rule and yields the target and labels; `labels` wins over the legacy pair.
    fn validate(&self) -> ApiResult<(HttpTarget, StringMap)> {
        let TargetPost::Http {
            method,
            url,
            headers,
        } = &self.target;
        let parsed = url::Url::parse(url)
            .map_err(|e| ApiError::detail(ProblemId::JsonPayload, format!("target.url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none_or(str::is_empty)
        {
            return Err(ApiError::detail(
                ProblemId::JsonPayload,
                "target.url must be an http(s) URL with a host.",
            ));
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
            errors.check_len(
                "label_key",
                self.label_key.as_deref().unwrap_or_default(),
                1,
                100,
            );
            errors.check_len(
                "label_value",
                self.label_value.as_deref().unwrap_or_default(),
                1,
                100,
            );
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
                errors.add(
                    "target.headers",
                    "length",
                    json!({ "max": 500, "value": name }),
                );
            }
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value).is_err()
            {
                errors.add("target.headers", "header", json!({ "value": name }));
            } else if hook0_core::delivery::is_framing_header(name) {
                errors.add_with_message(
                    "target.headers",
                    "framing_header",
                    &format!("`{name}` is set by Hook0's HTTP client and cannot be overridden"),
                    json!({ "value": name }),
                );
            }
        }
        if let Some(workers) = &self.dedicated_workers {
            for w in workers {
                errors.check_len("dedicated_workers", w, 1, 20);
            }
        }
        if let Some(Some(label)) = &self.ordering_label {
            // A label key, as events carry them.
            errors.check_len("ordering_label", label, 1, 50);
        }
        if let Some(policy) = &self.ordering_on_dead_letter {
            if OnDeadLetter::parse(policy).is_none() {
                errors.add(
                    "ordering_on_dead_letter",
                    "one_of",
                    json!({ "value": policy, "allowed": OnDeadLetter::NAMES }),
                );
            }
        }
        errors.into_result()?;
        let target = HttpTarget {
            method: method.clone(),
            url: url.clone(),
            headers: headers.clone(),
        };
        Ok((target, labels))
    }

    /// The ordering asked for, given the one stored (`kept`, on update): what is left out
    /// stays as it is.
    fn ordering(&self, kept: Option<&Ordering>) -> Option<Ordering> {
        let label = match &self.ordering_label {
            None => kept.map(|o| o.label.clone())?,
            Some(label) => label.clone()?,
        };
        let on_dead_letter = match &self.ordering_on_dead_letter {
            Some(policy) => OnDeadLetter::parse(policy).unwrap_or_default(),
            None => kept.map(|o| o.on_dead_letter).unwrap_or_default(),
        };
        Some(Ordering {
            label,
            on_dead_letter,
        })
    }

    /// `created_at` is only kept on create; updates keep the stored one. `kept` is the stored
    /// ordering, which a request leaving it out keeps.
    pub(crate) fn into_subscription(
        self,
        id: Uuid,
        secret: Uuid,
        created_at: DateTime<Utc>,
        kept: Option<&Ordering>,
    ) -> ApiResult<Subscription> {
        let (target, labels) = self.validate()?;
        let ordering = self.ordering(kept);
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
            ordering,
            created_at,
            updated_at: created_at,
        })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Target)]
pub struct TargetBody {
    #[serde(rename = "type")]
    kind: &'static str,
    method: String,
    url: String,
    /// Sent with every delivery. Values read `[redacted]` for callers who cannot edit
    /// subscriptions: they often hold the endpoint's own credentials.
    headers: StringMap,
}

/// What a redacted secret or header value reads as.
const REDACTED: &str = "[redacted]";

#[derive(Serialize, ToSchema)]
#[schema(as = Subscription)]
pub struct SubscriptionBody {
    application_id: Uuid,
    subscription_id: Uuid,
    is_enabled: bool,
    event_types: Vec<String>,
    description: Option<String>,
    /// The HMAC key of `X-Hook0-Signature`. For callers who may read but not edit
    /// subscriptions (viewers), the nil UUID: a secret is for those who run the endpoint.
    secret: Uuid,
    metadata: StringMap,
    label_key: String,
    label_value: String,
    labels: StringMap,
    target: TargetBody,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    dedicated_workers: Vec<String>,
    circuit: CircuitBody,
    standard_webhooks: bool,
    standard_webhooks_secrets: Vec<SigningSecretBody>,
    /// The event label whose value orders deliveries (one at a time per value); `null`:
    /// unordered.
    ordering_label: Option<String>,
    /// `hold` or `continue`: what a key does when its delivery becomes a dead letter.
    ordering_on_dead_letter: &'static str,
}

/// The circuit breaker as the API shows it: `retry_at` is when an open circuit lets a probe
/// through.
#[derive(Serialize, ToSchema)]
#[schema(as = Circuit)]
pub struct CircuitBody {
    state: &'static str,
    since: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    retry_at: Option<DateTime<Utc>>,
}

impl From<Circuit> for CircuitBody {
    fn from(c: Circuit) -> Self {
        Self {
            state: c.state.as_str(),
            since: c.since,
            consecutive_failures: c.consecutive_failures,
            retry_at: c.open_until,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = SigningSecret)]
pub struct SigningSecretBody {
    secret: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<SigningSecret> for SigningSecretBody {
    fn from(s: SigningSecret) -> Self {
        Self {
            secret: s.secret,
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

impl SubscriptionBody {
    fn new(s: Subscription, protection: SubscriptionProtection) -> Self {
        let (label_key, label_value) = s
            .labels
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap_or_default();
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
            target: TargetBody {
                kind: "http",
                method: s.target.method,
                url: s.target.url,
                headers: s.target.headers,
            },
            created_at: s.created_at,
            updated_at: s.updated_at,
            dedicated_workers: s.dedicated_workers,
            ordering_label: s.ordering.as_ref().map(|o| o.label.clone()),
            ordering_on_dead_letter: s
                .ordering
                .map(|o| o.on_dead_letter)
                .unwrap_or_default()
                .as_str(),
            circuit: protection.circuit.into(),
            standard_webhooks: protection.standard_webhooks,
            standard_webhooks_secrets: protection
                .standard_webhooks_secrets
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

impl SubscriptionBody {
    /// Hides what only those who may edit subscriptions should see: the signing secrets and
    /// the values of the target's headers.
    /// Hides the signing secrets only (the portal shows them on request).
    pub(crate) fn without_secrets(mut self) -> Self {
        self.secret = Uuid::nil();
        for secret in &mut self.standard_webhooks_secrets {
            secret.secret = REDACTED.to_owned();
        }
        self
    }

    fn redact(self) -> Self {
        let mut redacted = self.without_secrets();
        for value in redacted.target.headers.values_mut() {
            *value = REDACTED.to_owned();
        }
        redacted
    }
}

/// Whether the caller may edit the application's subscriptions, and so see their secrets.
async fn sees_secrets(state: &AppState, principal: &Principal, application_id: Uuid) -> bool {
    principal
        .authorize_app(state, application_id, Action::SubscriptionEdit)
        .await
        .is_ok()
}

/// [`bodies`], redacted for a caller who cannot edit subscriptions.
async fn bodies_for(
    state: &AppState,
    principal: &Principal,
    application_id: Uuid,
    subs: Vec<Subscription>,
) -> ApiResult<Vec<SubscriptionBody>> {
    let bodies = bodies(state, subs).await?;
    if sees_secrets(state, principal, application_id).await {
        return Ok(bodies);
    }
    Ok(bodies.into_iter().map(SubscriptionBody::redact).collect())
}

/// The answers for these subscriptions, with their circuit and signing.
pub(crate) async fn bodies(
    state: &AppState,
    subs: Vec<Subscription>,
) -> ApiResult<Vec<SubscriptionBody>> {
    let ids: Vec<Uuid> = subs.iter().map(|s| s.id).collect();
    let mut protection = state.store.subscription_protection(&ids).await?;
    Ok(subs
        .into_iter()
        .map(|s| {
            let p = protection.remove(&s.id).unwrap_or_default();
            SubscriptionBody::new(s, p)
        })
        .collect())
}

pub(crate) async fn answer(state: &AppState, sub: Subscription) -> ApiResult<SubscriptionBody> {
    Ok(bodies(state, vec![sub])
        .await?
        .pop()
        .expect("one body per subscription"))
}

/// Applies an explicit `standard_webhooks` choice.
async fn set_standard_webhooks(
    state: &AppState,
    sub: &Subscription,
    choice: Option<bool>,
) -> ApiResult<()> {
    if let Some(enabled) = choice {
        let secret = standard_webhooks::generate_secret();
        if !state
            .store
            .set_standard_webhooks(sub.application_id, sub.id, enabled, &secret)
            .await?
        {
            return Err(ApiError::not_found());
        }
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/subscriptions",
    operation_id = "subscriptions.list",
    tag = "subscriptions",
    params(ByApplication),
    responses((status = 200, description = "The application's live subscriptions, oldest first", body = Vec<SubscriptionBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<SubscriptionBody>>> {
    principal
        .authorize_app(&state, q.application_id, Action::SubscriptionList)
        .await?;
    let subs = state.store.list_subscriptions(q.application_id).await?;
    Ok(axum::Json(
        bodies_for(&state, &principal, q.application_id, subs).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/subscriptions",
    operation_id = "subscriptions.create",
    tag = "subscriptions",
    request_body = SubscriptionPost,
    responses((status = 201, description = "The new subscription, with the secret its deliveries are signed with", body = SubscriptionBody))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<SubscriptionPost>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionBody>)> {
    let labels = body.requested_labels();
    principal
        .authorize_app_with(
            &state,
            body.application_id,
            Action::SubscriptionCreate,
            &[Detail::Labels(&labels)],
        )
        .await?;
    let standard_webhooks = body.standard_webhooks;
    let sub = body.into_subscription(Uuid::new_v4(), Uuid::new_v4(), now(), None)?;
    let limit = state
        .config
        .quotas
        .global(Quota::SubscriptionsPerApplication);
    state.store.create_subscription_within(&sub, limit).await?;
    set_standard_webhooks(&state, &sub, standard_webhooks.filter(|enabled| *enabled)).await?;
    Ok((StatusCode::CREATED, axum::Json(answer(&state, sub).await?)))
}

#[utoipa::path(
    get,
    path = "/subscriptions/{id}",
    operation_id = "subscriptions.get",
    tag = "subscriptions",
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription", body = SubscriptionBody))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<SubscriptionBody>> {
    // The application is resolved from the subscription, as upstream does. Another
    // tenant's subscription answers exactly like an unknown one (404), so ids cannot be
    // probed for existence.
    let sub = state
        .store
        .get_subscription(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    principal
        .authorize_app_with(
            &state,
            sub.application_id,
            Action::SubscriptionGet,
            &[Detail::SubscriptionId(id)],
        )
        .await
        .map_err(|refused| match refused.0.status {
            403 => ApiError::not_found(),
            _ => refused,
        })?;
    let application_id = sub.application_id;
    let mut body = bodies_for(&state, &principal, application_id, vec![sub]).await?;
    Ok(axum::Json(body.pop().expect("one body per subscription")))
}

#[utoipa::path(
    put,
    path = "/subscriptions/{id}",
    operation_id = "subscriptions.update",
    tag = "subscriptions",
    params(("id" = Uuid, Path, description = "Subscription id")),
    request_body = SubscriptionPost,
    responses((status = 200, description = "Replaced; disabling fails its pending attempts", body = SubscriptionBody))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<SubscriptionPost>,
) -> ApiResult<axum::Json<SubscriptionBody>> {
    principal
        .authorize_app_with(
            &state,
            body.application_id,
            Action::SubscriptionEdit,
            &[Detail::SubscriptionId(id)],
        )
        .await?;
    let standard_webhooks = body.standard_webhooks;
    let stored = state
        .store
        .get_subscription(id)
        .await?
        .filter(|s| s.application_id == body.application_id);
    let kept = stored.and_then(|s| s.ordering);
    let sub = body.into_subscription(id, Uuid::nil(), now(), kept.as_ref())?;
    let updated = state
        .store
        .update_subscription(&sub)
        .await?
        .ok_or_else(ApiError::not_found)?;
    set_standard_webhooks(&state, &updated, standard_webhooks).await?;
    Ok(axum::Json(answer(&state, updated).await?))
}

#[utoipa::path(
    delete,
    path = "/subscriptions/{id}",
    operation_id = "subscriptions.delete",
    tag = "subscriptions",
    params(("id" = Uuid, Path, description = "Subscription id"), ByApplication),
    responses((status = 204, description = "Soft-deleted; its pending attempts are failed"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_app_with(
            &state,
            q.application_id,
            Action::SubscriptionDelete,
            &[Detail::SubscriptionId(id)],
        )
        .await?;
    if state
        .store
        .delete_subscription(q.application_id, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// How long the previous secrets keep signing after a rotation, unless the request says.
const DEFAULT_ROTATION_OVERLAP_SECS: u64 = 24 * 3600;
/// Longest overlap a rotation may ask for.
const MAX_ROTATION_OVERLAP_SECS: u64 = 30 * 24 * 3600;

#[derive(Deserialize, ToSchema)]
pub struct RotatePost {
    application_id: Uuid,
    /// Seconds during which the previous secrets keep signing beside the new one (default one
    /// day; 0 retires them at once).
    overlap_secs: Option<u64>,
}

/// `POST /subscriptions/{id}/secrets/rotate`: a new Standard Webhooks secret; the live ones
/// expire after the overlap. Answers the subscription.
#[utoipa::path(
    post,
    path = "/subscriptions/{id}/secrets/rotate",
    operation_id = "subscriptions.rotateSecret",
    tag = "subscriptions",
    params(("id" = Uuid, Path, description = "Subscription id")),
    request_body = RotatePost,
    responses((status = 200, description = "The subscription with its new Standard Webhooks secret", body = SubscriptionBody))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(post): Json<RotatePost>,
) -> ApiResult<axum::Json<SubscriptionBody>> {
    principal
        .authorize_app(
            &state,
            post.application_id,
            Action::SubscriptionSecretRotate,
        )
        .await?;
    let overlap = post.overlap_secs.unwrap_or(DEFAULT_ROTATION_OVERLAP_SECS);
    if overlap > MAX_ROTATION_OVERLAP_SECS {
        let mut errors = ValidationErrors::default();
        errors.add(
            "overlap_secs",
            "range",
            json!({ "min": 0, "max": MAX_ROTATION_OVERLAP_SECS, "value": overlap }),
        );
        return Err(errors.into());
    }
    let secret = standard_webhooks::generate_secret();
    let overlap = std::time::Duration::from_secs(overlap);
    if !state
        .store
        .rotate_standard_webhooks_secret(post.application_id, id, &secret, overlap)
        .await?
    {
        return Err(ApiError::not_found());
    }
    let sub = state
        .store
        .get_subscription(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(answer(&state, sub).await?))
}
