//! `GET /events_per_day/{application,organization}`: events received per application and UTC
//! day, upstream's shape. Counted at ingest, so past days survive the retention cleanup and
//! today's figure is exact; today is still marked `is_provisional` (the day is not over).

use axum::extract::State;
use chrono::{Duration, NaiveDate};
use hook0_core::model::now;
use hook0_core::problem::ProblemId;
use hook0_store::{DailyEvents, DailyScope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

/// Days covered when `from` is not given: the 30 days before `to`, and `to` itself.
const DEFAULT_DAYS: i64 = 30;

/// One application's count for one day.
#[derive(Serialize, ToSchema)]
pub struct EventsPerDayEntry {
    application_id: Uuid,
    application_name: String,
    #[schema(value_type = String, format = Date, example = "2026-12-04")]
    date: NaiveDate,
    amount: i64,
    /// The day is not over yet (today): its amount may still grow.
    is_provisional: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForApplication {
    application_id: Uuid,
    /// First day, `YYYY-MM-DD` [default: 30 days before `to`].
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Last day, inclusive [default: today, UTC].
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForOrganization {
    organization_id: Uuid,
    /// First day, `YYYY-MM-DD` [default: 30 days before `to`].
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Last day, inclusive [default: today, UTC].
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
}

/// The range asked for, with upstream's defaults; `from` after `to` is 400 `InvalidDateRange`.
fn range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> ApiResult<(NaiveDate, NaiveDate)> {
    let to = to.unwrap_or_else(|| now().date_naive());
    let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from > to {
        return Err(ApiError::new(ProblemId::InvalidDateRange));
    }
    Ok((from, to))
}

fn entries(days: Vec<DailyEvents>) -> Vec<EventsPerDayEntry> {
    let today = now().date_naive();
    days.into_iter()
        .map(|d| EventsPerDayEntry {
            application_id: d.application_id,
            application_name: d.application_name,
            is_provisional: d.date >= today,
            date: d.date,
            amount: d.amount,
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/events_per_day/application",
    operation_id = "events_per_day.list_for_application",
    tag = "events_per_day",
    params(ForApplication),
    responses(
        (status = 200, description = "Events received per UTC day (days with none are left out), oldest first", body = Vec<EventsPerDayEntry>),
        (status = 400, description = "`from` is after `to` (InvalidDateRange)")
    )
)]
pub async fn for_application(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ForApplication>,
) -> ApiResult<axum::Json<Vec<EventsPerDayEntry>>> {
    principal
        .authorize_app(&state, q.application_id, Action::EventsPerDayApplication)
        .await?;
    let (from, to) = range(q.from, q.to)?;
    let days = state
        .store
        .events_per_day(DailyScope::Application(q.application_id), from, to)
        .await?;
    Ok(axum::Json(entries(days)))
}

#[utoipa::path(
    get,
    path = "/events_per_day/organization",
    operation_id = "events_per_day.list_for_organization",
    tag = "events_per_day",
    params(ForOrganization),
    responses(
        (status = 200, description = "Events received per application of the organization and UTC day, oldest first", body = Vec<EventsPerDayEntry>),
        (status = 400, description = "`from` is after `to` (InvalidDateRange)")
    )
)]
pub async fn for_organization(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ForOrganization>,
) -> ApiResult<axum::Json<Vec<EventsPerDayEntry>>> {
    principal
        .authorize_org(q.organization_id, Action::EventsPerDayOrganization)
        .await?;
    let (from, to) = range(q.from, q.to)?;
    let days = state
        .store
        .events_per_day(DailyScope::Organization(q.organization_id), from, to)
        .await?;
    Ok(axum::Json(entries(days)))
}

/// One UTC day of an application's deliveries (an addition to upstream's API).
#[derive(Serialize, ToSchema)]
pub struct DeliveriesPerDayEntry {
    #[schema(value_type = String, format = Date, example = "2026-12-04")]
    date: NaiveDate,
    /// Attempts created that day that succeeded.
    succeeded: i64,
    /// Attempts created that day that failed (each retry is an attempt of its own).
    failed: i64,
    /// Attempts created that day not finished yet.
    open: i64,
}

#[utoipa::path(
    get,
    path = "/deliveries_per_day/application",
    operation_id = "deliveries_per_day.list_for_application",
    tag = "events_per_day",
    params(ForApplication),
    responses(
        (status = 200, description = "Delivery attempts per UTC day of creation, by outcome so far (days with none left out), oldest first. Not in upstream.", body = Vec<DeliveriesPerDayEntry>),
        (status = 400, description = "`from` is after `to` (InvalidDateRange)")
    )
)]
pub async fn deliveries_for_application(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ForApplication>,
) -> ApiResult<axum::Json<Vec<DeliveriesPerDayEntry>>> {
    principal
        .authorize_app(&state, q.application_id, Action::RequestAttemptList)
        .await?;
    let (from, to) = range(q.from, q.to)?;
    let days = state
        .store
        .delivery_outcomes_per_day(q.application_id, from, to)
        .await?;
    Ok(axum::Json(
        days.into_iter()
            .map(|d| DeliveriesPerDayEntry {
                date: d.date,
                succeeded: d.succeeded,
                failed: d.failed,
                open: d.open,
            })
            .collect(),
    ))
}
