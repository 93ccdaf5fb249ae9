//! `GET /operational_events?application_id=`: what Hook0 itself reported about an application,
//! newest first (at most 100), e.g. `api.subscription.disabled` when a subscription that kept
//! failing was auto-disabled. The worker also POSTs each one to `OPERATIONAL_WEBHOOK_URL` when
//! it is set. Not in upstream.

use axum::extract::State;
use hook0_core::model::OperationalEvent;
use serde_json::{json, Value};

use crate::auth::{Action, Principal};
use crate::error::ApiResult;
use crate::extract::Query;
use crate::routes::ByApplication;
use crate::state::AppState;

const LIST_LIMIT: u32 = 100;

fn event_json(e: OperationalEvent) -> Value {
    json!({
        "operational_event_id": e.id,
        "event_type": e.event_type,
        "organization_id": e.organization_id,
        "application_id": e.application_id,
        "occurred_at": e.created_at,
        "payload": e.payload,
    })
}

#[utoipa::path(
    get,
    path = "/operational_events",
    operation_id = "operationalEvents.list",
    tag = "operational_events",
    params(ByApplication),
    responses((status = 200, description = "What Hook0 reported about the application, newest first", body = Vec<Object>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<Value>>> {
    principal
        .authorize_app(&state, q.application_id, Action::OperationalEventList)
        .await?;
    let events = state
        .store
        .list_operational_events(q.application_id, LIST_LIMIT)
        .await?;
    Ok(axum::Json(events.into_iter().map(event_json).collect()))
}
