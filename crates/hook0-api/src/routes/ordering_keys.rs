//! `GET /subscriptions/{id}/ordering_keys` (added to upstream's API): the keys of a subscription
//! that orders its deliveries (`ordering_label`) which are not idle: each one's attempt in
//! play, how many wait behind it, and, for a key held on a dead letter (policy `hold`), which
//! one and since when. Redelivering that dead letter (`POST /request_attempts/{id}/retry`) lets
//! the key go on.

use axum::extract::State;
use chrono::{DateTime, Utc};
use hook0_store::ordering::KeyState;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Detail, Principal};
use crate::error::ApiResult;
use crate::extract::{Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = OrderingKey)]
pub struct OrderingKeyBody {
    /// The value of the ordering label.
    key: String,
    /// `held` (waiting on a dead letter until it is redelivered) or `delivering`.
    state: &'static str,
    /// The attempt now allowed to be delivered (pending, in flight or awaiting its retry).
    head_attempt_id: Option<Uuid>,
    /// The dead letter a held key waits on.
    held_by_attempt_id: Option<Uuid>,
    held_since: Option<DateTime<Utc>>,
    /// Attempts waiting their turn behind it.
    waiting: u64,
}

impl From<KeyState> for OrderingKeyBody {
    fn from(k: KeyState) -> Self {
        Self {
            state: if k.held_by.is_some() {
                "held"
            } else {
                "delivering"
            },
            key: k.key,
            head_attempt_id: k.head,
            held_by_attempt_id: k.held_by,
            held_since: k.held_since,
            waiting: k.waiting,
        }
    }
}

#[utoipa::path(
    get,
    path = "/subscriptions/{id}/ordering_keys",
    operation_id = "subscriptions.orderingKeys",
    tag = "subscriptions",
    params(("id" = Uuid, Path, description = "Subscription id"), ByApplication),
    responses((status = 200, description = "The keys in play (held ones first, then the longest lines), at most 100; empty for an unordered subscription", body = Vec<OrderingKeyBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<OrderingKeyBody>>> {
    principal
        .authorize_app_with(
            &state,
            q.application_id,
            Action::SubscriptionGet,
            &[Detail::SubscriptionId(id)],
        )
        .await?;
    let keys = state.store.ordering_keys(q.application_id, id).await?;
    Ok(axum::Json(keys.into_iter().map(Into::into).collect()))
}
