//! `/quotas`: the instance's global limits. Off by default (every limit reads as upstream's
//! `i32::MAX`); with `ENABLE_QUOTA_ENFORCEMENT` they are the `QUOTA_GLOBAL_*_LIMIT` values,
//! enforced with 429 problems when reached.

use axum::extract::State;
use hook0_core::quota::{Quota, Quotas as InstanceQuotas};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Quotas {
    /// Whether the limits are enforced (`ENABLE_QUOTA_ENFORCEMENT`).
    enabled: bool,
    limits: QuotaLimits,
}

#[derive(Serialize, ToSchema)]
pub struct QuotaLimits {
    global_members_per_organization_limit: i32,
    global_applications_per_organization_limit: i32,
    global_events_per_day_limit: i32,
    global_days_of_events_retention_limit: i32,
    global_subscriptions_per_application_limit: i32,
    global_event_types_per_application_limit: i32,
}

#[utoipa::path(
    get,
    path = "/quotas",
    operation_id = "quotas.get",
    tag = "instance",
    responses((status = 200, description = "The instance's global limits (2147483647 when not enforced)", body = Quotas))
)]
pub async fn get(State(state): State<AppState>) -> axum::Json<Quotas> {
    let quotas = state.config.quotas;
    let limit = |quota| InstanceQuotas::reported(quotas.global(quota));
    axum::Json(Quotas {
        enabled: quotas.is_enforced(),
        limits: QuotaLimits {
            global_members_per_organization_limit: limit(Quota::MembersPerOrganization),
            global_applications_per_organization_limit: limit(Quota::ApplicationsPerOrganization),
            global_events_per_day_limit: limit(Quota::EventsPerDay),
            global_days_of_events_retention_limit: limit(Quota::DaysOfEventsRetention),
            global_subscriptions_per_application_limit: limit(Quota::SubscriptionsPerApplication),
            global_event_types_per_application_limit: limit(Quota::EventTypesPerApplication),
        },
    })
}
