//! `/organizations`: the tenants that own applications. A user who creates one is its editor;
//! members are managed in [`crate::routes::members`].

use axum::extract::State;
use axum::http::StatusCode;
use hook0_core::model::{now, Organization};
use hook0_core::problem::ProblemId;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;
use hook0_core::quota::{Quota, Quotas};

#[derive(Deserialize, ToSchema)]
pub struct OrganizationPost {
    name: String,
}

impl OrganizationPost {
    fn validate(&self) -> ApiResult<()> {
        if self.name.trim().is_empty() {
            return Err(ProblemId::OrganizationNameMissing.into());
        }
        let mut errors = ValidationErrors::default();
        errors.check_len("name", &self.name, 2, 50);
        Ok(errors.into_result()?)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationSummary {
    organization_id: Uuid,
    name: String,
    /// `editor`, `viewer`, or `master` for the master key.
    role: &'static str,
    #[schema(value_type = Option<Object>)]
    plan: Option<Value>,
}

/// Upstream's `OrganizationInfo`: the organization with its members, quotas, consumption and
/// onboarding steps.
#[derive(Serialize, ToSchema)]
pub struct OrganizationInfo {
    organization_id: Uuid,
    name: String,
    #[schema(value_type = Option<Object>)]
    plan: Option<Value>,
    users: Vec<OrganizationUser>,
    quotas: OrganizationQuotas,
    consumption: OrganizationConsumption,
    onboarding_steps: OrganizationOnboardingSteps,
}

/// A member, with its role (`editor` or `viewer`).
#[derive(Serialize, ToSchema)]
pub struct OrganizationUser {
    user_id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    role: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationQuotas {
    members_per_organization_limit: i32,
    applications_per_organization_limit: i32,
    events_per_day_limit: i32,
    days_of_events_retention_limit: i32,
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationConsumption {
    members: i64,
    applications: i64,
    events_per_day: i64,
}

/// Each step is `ToDo` or `Done`.
#[derive(Serialize, ToSchema)]
pub struct OrganizationOnboardingSteps {
    application: &'static str,
    event_type: &'static str,
    subscription: &'static str,
    event: &'static str,
}

#[utoipa::path(
    get,
    path = "/organizations",
    operation_id = "organizations.list",
    tag = "organizations",
    responses((status = 200, description = "The organizations the caller belongs to", body = Vec<OrganizationSummary>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<Vec<OrganizationSummary>>> {
    principal
        .authorize_instance(Action::OrganizationList)
        .await?;
    let orgs: Vec<(Organization, &'static str)> = match &principal {
        Principal::Master => state
            .store
            .list_organizations()
            .await?
            .into_iter()
            .map(|o| (o, "master"))
            .collect(),
        // A service token acts as an editor of its organization (upstream's answer).
        Principal::ServiceToken(token) => state
            .store
            .get_organization(token.organization_id)
            .await?
            .into_iter()
            .map(|o| (o, "editor"))
            .collect(),
        Principal::User(session) => state
            .store
            .list_user_organizations(session.user_id)
            .await?
            .into_iter()
            .map(|(o, role)| (o, role.as_str()))
            .collect(),
        Principal::ApplicationSecret(_) => Vec::new(),
    };
    Ok(axum::Json(
        orgs.into_iter()
            .map(|(o, role)| OrganizationSummary {
                organization_id: o.id,
                name: o.name,
                role,
                plan: None,
            })
            .collect(),
    ))
}

/// `OrganizationInfo`: the organization with its members, quotas, consumption and onboarding.
async fn info(state: &AppState, org: Organization) -> ApiResult<OrganizationInfo> {
    let apps = state.store.list_applications(org.id).await?;
    let today = now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let (mut event_types, mut subscriptions, mut events, mut events_today) = (0, 0, 0, 0);
    for app in &apps {
        let usage = state.store.application_usage(app.id, today).await?;
        event_types += usage.event_types;
        subscriptions += usage.subscriptions;
        events += usage.events;
        events_today += usage.events_since;
    }
    let users: Vec<OrganizationUser> = state
        .store
        .list_members(org.id)
        .await?
        .into_iter()
        .map(|m| OrganizationUser {
            user_id: m.user_id,
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            role: m.role.as_str(),
        })
        .collect();
    let step = |done: bool| if done { "Done" } else { "ToDo" };
    let reported = |quota| Quotas::reported(state.config.quotas.global(quota));
    Ok(OrganizationInfo {
        organization_id: org.id,
        name: org.name,
        plan: None,
        quotas: OrganizationQuotas {
            members_per_organization_limit: reported(Quota::MembersPerOrganization),
            applications_per_organization_limit: reported(Quota::ApplicationsPerOrganization),
            events_per_day_limit: reported(Quota::EventsPerDay),
            days_of_events_retention_limit: reported(Quota::DaysOfEventsRetention),
        },
        consumption: OrganizationConsumption {
            members: users.len() as i64,
            applications: apps.len() as i64,
            events_per_day: events_today,
        },
        onboarding_steps: OrganizationOnboardingSteps {
            application: step(!apps.is_empty()),
            event_type: step(event_types > 0),
            subscription: step(subscriptions > 0),
            event: step(events > 0),
        },
        users,
    })
}

/// Upstream answers 200 (not 201) here.
#[utoipa::path(
    post,
    path = "/organizations",
    operation_id = "organizations.create",
    tag = "organizations",
    request_body = OrganizationPost,
    responses((status = 200, description = "The new organization", body = OrganizationInfo))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<OrganizationPost>,
) -> ApiResult<axum::Json<OrganizationInfo>> {
    principal
        .authorize_instance(Action::OrganizationCreate)
        .await?;
    body.validate()?;
    let org = Organization {
        id: Uuid::new_v4(),
        name: body.name,
        created_at: now(),
    };
    match &principal {
        Principal::User(session) => {
            state
                .store
                .create_organization_with_editor(&org, session.user_id)
                .await?
        }
        _ => state.store.create_organization(&org).await?,
    }
    Ok(axum::Json(info(&state, org).await?))
}

#[utoipa::path(
    get,
    path = "/organizations/{id}",
    operation_id = "organizations.get",
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    responses((status = 200, description = "The organization", body = OrganizationInfo))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<OrganizationInfo>> {
    principal.authorize_org(id, Action::OrganizationGet).await?;
    let org = state
        .store
        .get_organization(id)
        .await?
        .ok_or_else(ApiError::forbidden)?;
    Ok(axum::Json(info(&state, org).await?))
}

#[utoipa::path(
    put,
    path = "/organizations/{id}",
    operation_id = "organizations.edit",
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = OrganizationPost,
    responses((status = 200, description = "The renamed organization", body = OrganizationInfo))
)]
pub async fn edit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<OrganizationPost>,
) -> ApiResult<axum::Json<OrganizationInfo>> {
    principal
        .authorize_org(id, Action::OrganizationEdit)
        .await?;
    body.validate()?;
    let org = state
        .store
        .rename_organization(id, &body.name)
        .await?
        .ok_or_else(ApiError::forbidden)?;
    Ok(axum::Json(info(&state, org).await?))
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}",
    operation_id = "organizations.delete",
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    responses((status = 204, description = "Deleted (it had no live application)"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    principal
        .authorize_org(id, Action::OrganizationDelete)
        .await?;
    if state.store.delete_organization(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::forbidden())
    }
}
