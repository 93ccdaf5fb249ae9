//! `/applications`: the unit that owns event types, subscriptions, events and secrets.
//! Deleting is soft (`deleted_at`) and fails the application's pending attempts.

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::model::{now, Application, ApplicationSecret};
use hook0_core::problem::ProblemId;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use hook0_core::quota::{Quota, Quotas};

#[derive(Deserialize, ToSchema)]
pub struct ApplicationPost {
    organization_id: Uuid,
    name: String,
    /// Days events are kept (an addition to upstream's body; absent = the instance default).
    retention_days: Option<i32>,
}

impl ApplicationPost {
    /// `max_retention_days`: the retention quota, when quotas are enforced.
    fn validate(&self, max_retention_days: Option<u32>) -> ApiResult<()> {
        if self.name.trim().is_empty() {
            return Err(ProblemId::ApplicationNameMissing.into());
        }
        let mut errors = ValidationErrors::default();
        errors.check_len("name", &self.name, 2, 50);
        let max = max_retention_days.map_or(36_500, |m| m.min(36_500) as i32);
        if self.retention_days.is_some_and(|d| !(1..=max).contains(&d)) {
            errors.add(
                "retention_days",
                "range",
                serde_json::json!({ "min": 1, "max": max }),
            );
        }
        Ok(errors.into_result()?)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Application)]
pub struct ApplicationBody {
    application_id: Uuid,
    organization_id: Uuid,
    name: String,
    /// Days events are kept, when the application sets its own (an addition to upstream's
    /// body; absent: the instance default).
    #[serde(skip_serializing_if = "Option::is_none")]
    retention_days: Option<i32>,
}

impl From<Application> for ApplicationBody {
    fn from(a: Application) -> Self {
        Self {
            application_id: a.id,
            organization_id: a.organization_id,
            name: a.name,
            retention_days: a.retention_days,
        }
    }
}

/// Upstream's `ApplicationInfo`: the application with its quotas, consumption and onboarding.
#[derive(Serialize, ToSchema)]
pub struct ApplicationInfo {
    application_id: Uuid,
    organization_id: Uuid,
    name: String,
    quotas: ApplicationQuotas,
    consumption: ApplicationConsumption,
    onboarding_steps: ApplicationOnboardingSteps,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationQuotas {
    events_per_day_limit: i32,
    days_of_events_retention_limit: i32,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationConsumption {
    events_per_day: i64,
}

/// Each step is `ToDo` or `Done`.
#[derive(Serialize, ToSchema)]
pub struct ApplicationOnboardingSteps {
    event_type: &'static str,
    subscription: &'static str,
    event: &'static str,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByOrganization {
    organization_id: Uuid,
}

#[utoipa::path(
    get,
    path = "/applications",
    operation_id = "applications.list",
    tag = "applications",
    params(ByOrganization),
    responses((status = 200, description = "The organization's live applications", body = Vec<ApplicationBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByOrganization>,
) -> ApiResult<axum::Json<Vec<ApplicationBody>>> {
    principal
        .authorize_org(q.organization_id, Action::ApplicationList)
        .await?;
    let apps = state.store.list_applications(q.organization_id).await?;
    Ok(axum::Json(apps.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    post,
    path = "/applications",
    operation_id = "applications.create",
    tag = "applications",
    request_body = ApplicationPost,
    responses((status = 201, description = "The new application (it gets a secret named `Default`)", body = ApplicationBody))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ApplicationPost>,
) -> ApiResult<(StatusCode, axum::Json<ApplicationBody>)> {
    principal
        .authorize_org(body.organization_id, Action::ApplicationCreate)
        .await?;
    body.validate(state.config.quotas.global(Quota::DaysOfEventsRetention))?;
    if state
        .store
        .get_organization(body.organization_id)
        .await?
        .is_none()
    {
        return Err(ApiError::forbidden());
    }
    let created_at = now();
    let app = Application {
        id: Uuid::new_v4(),
        organization_id: body.organization_id,
        name: body.name,
        retention_days: body.retention_days,
        created_at,
        deleted_at: None,
    };
    let secret = ApplicationSecret {
        token: Uuid::new_v4(),
        application_id: app.id,
        name: Some("Default".into()),
        created_at,
        deleted_at: None,
    };
    let limit = state
        .config
        .quotas
        .global(Quota::ApplicationsPerOrganization);
    state
        .store
        .create_application_within(&app, &secret, limit)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(app.into())))
}

/// `ApplicationInfo`: the application with quotas, consumption and onboarding steps.
#[utoipa::path(
    get,
    path = "/applications/{id}",
    operation_id = "applications.get",
    tag = "applications",
    params(("id" = Uuid, Path, description = "Application id")),
    responses((status = 200, description = "The application", body = ApplicationInfo))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<ApplicationInfo>> {
    principal
        .authorize_app(&state, id, Action::ApplicationGet)
        .await?;
    let app = state
        .store
        .get_application(id)
        .await?
        .ok_or_else(ApiError::forbidden)?;
    let today = now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let usage = state.store.application_usage(id, today).await?;
    let quotas = state.config.quotas;
    let step = |n: i64| if n > 0 { "Done" } else { "ToDo" };
    Ok(axum::Json(ApplicationInfo {
        application_id: app.id,
        organization_id: app.organization_id,
        name: app.name,
        quotas: ApplicationQuotas {
            events_per_day_limit: Quotas::reported(
                quotas.for_application(Quota::EventsPerDay, None),
            ),
            days_of_events_retention_limit: Quotas::reported(quotas.for_application(
                Quota::DaysOfEventsRetention,
                app.retention_days.map(|d| d.max(0) as u32),
            )),
        },
        consumption: ApplicationConsumption {
            events_per_day: usage.events_since,
        },
        onboarding_steps: ApplicationOnboardingSteps {
            event_type: step(usage.event_types),
            subscription: step(usage.subscriptions),
            event: step(usage.events),
        },
    }))
}

#[utoipa::path(
    put,
    path = "/applications/{id}",
    operation_id = "applications.update",
    tag = "applications",
    params(("id" = Uuid, Path, description = "Application id")),
    request_body = ApplicationPost,
    responses((status = 200, description = "The renamed application", body = ApplicationBody))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<ApplicationPost>,
) -> ApiResult<axum::Json<ApplicationBody>> {
    let scope = principal
        .authorize_app(&state, id, Action::ApplicationEdit)
        .await?;
    if scope.organization_id != body.organization_id {
        return Err(ApiError::forbidden());
    }
    body.validate(state.config.quotas.global(Quota::DaysOfEventsRetention))?;
    let app = state
        .store
        .update_application(id, body.organization_id, &body.name, body.retention_days)
        .await?
        .ok_or_else(ApiError::forbidden)?;
    Ok(axum::Json(app.into()))
}

#[utoipa::path(
    delete,
    path = "/applications/{id}",
    operation_id = "applications.delete",
    tag = "applications",
    params(("id" = Uuid, Path, description = "Application id")),
    responses((status = 204, description = "Soft-deleted; its pending attempts are failed"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_app(&state, id, Action::ApplicationDelete)
        .await?;
    state.store.delete_application(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
