//! `/quotas`: quotas are not enforced by this server; every limit answers as unlimited.

use serde_json::{json, Value};

/// What an unenforced limit reads as (upstream uses `i32::MAX`).
pub const UNLIMITED: i32 = i32::MAX;

pub async fn get() -> axum::Json<Value> {
    axum::Json(json!({
        "enabled": false,
        "limits": {
            "global_members_per_organization_limit": UNLIMITED,
            "global_applications_per_organization_limit": UNLIMITED,
            "global_events_per_day_limit": UNLIMITED,
            "global_days_of_events_retention_limit": UNLIMITED,
            "global_subscriptions_per_application_limit": UNLIMITED,
            "global_event_types_per_application_limit": UNLIMITED,
        },
    }))
}
