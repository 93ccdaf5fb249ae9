//! `/quotas`: quotas are not enforced by this server; every limit answers as unlimited.

use serde::Serialize;
use utoipa::ToSchema;

/// What an unenforced limit reads as (upstream uses `i32::MAX`).
pub const UNLIMITED: i32 = i32::MAX;

#[derive(Serialize, ToSchema)]
pub struct Quotas {
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
    responses((status = 200, description = "The instance's quotas (not enforced: all unlimited)", body = Quotas))
)]
pub async fn get() -> axum::Json<Quotas> {
    axum::Json(Quotas {
        enabled: false,
        limits: QuotaLimits {
            global_members_per_organization_limit: UNLIMITED,
            global_applications_per_organization_limit: UNLIMITED,
            global_events_per_day_limit: UNLIMITED,
            global_days_of_events_retention_limit: UNLIMITED,
            global_subscriptions_per_application_limit: UNLIMITED,
            global_event_types_per_application_limit: UNLIMITED,
        },
    })
}
