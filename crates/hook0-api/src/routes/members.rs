//! `/organizations/{id}/invite`: an organization's members. `POST` adds a registered user with
//! a role, `PUT` changes a member's role, `DELETE` removes a member; each answers its body back,
//! as upstream. Removing a member or changing a role ends that user's sessions, so the change
//! applies at once rather than when their 5-minute access token runs out.

use axum::extract::State;
use hook0_core::identity::{normalize_email, Role};
use hook0_core::model::now;
use hook0_core::problem::ProblemId;
use hook0_core::quota::Quota;
use hook0_core::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::routes::auth::check_email;
use crate::state::AppState;

fn role(name: &str) -> ApiResult<Role> {
    name.parse()
        .map_err(|_| ApiError::new(ProblemId::InvalidRole))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct InvitePost {
    email: String,
    /// `editor` or `viewer`.
    role: String,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct RevokePost {
    user_id: Uuid,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct EditRolePost {
    user_id: Uuid,
    /// `editor` or `viewer`.
    role: String,
}

#[utoipa::path(
    post,
    path = "/organizations/{id}/invite",
    operation_id = "organizations.invite",
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = InvitePost,
    responses((status = 200, description = "The user (who must have registered) is now a member", body = InvitePost))
)]
pub async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<InvitePost>,
) -> ApiResult<axum::Json<InvitePost>> {
    principal
        .authorize_org(id, Action::OrganizationInvite)
        .await?;
    let mut errors = ValidationErrors::default();
    check_email(&mut errors, "email", &body.email);
    errors.into_result()?;
    let role = role(&body.role)?;
    if state.store.get_organization(id).await?.is_none() {
        return Err(ApiError::forbidden());
    }
    let user = state
        .store
        .user_by_email(&normalize_email(&body.email))
        .await?
        .ok_or(ProblemId::InvitedUserDoesNotExist)?;
    let limit = state.config.quotas.global(Quota::MembersPerOrganization);
    state
        .store
        .add_member_within(id, user.id, role, now(), limit)
        .await?;
    Ok(axum::Json(body))
}

/// Refuses (422) to take the editor role away from `user_id` when it is the organization's
/// last editor: nobody could manage the organization any more.
async fn keeps_an_editor(state: &AppState, organization_id: Uuid, user_id: Uuid) -> ApiResult<()> {
    let members = state.store.list_members(organization_id).await?;
    let editors = members.iter().filter(|m| m.role == Role::Editor);
    let last = editors.clone().count() == 1 && editors.clone().any(|m| m.user_id == user_id);
    if last {
        let mut errors = ValidationErrors::default();
        errors.add_with_message(
            "user_id",
            "last_editor",
            "the organization's last editor cannot leave or become a viewer; make another member editor first",
            serde_json::json!({}),
        );
        return Err(errors.into());
    }
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}/invite",
    operation_id = "organizations.revoke",
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = RevokePost,
    responses((status = 200, description = "The user is no longer a member", body = RevokePost))
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<RevokePost>,
) -> ApiResult<axum::Json<RevokePost>> {
    principal
        .authorize_org(id, Action::OrganizationRevoke)
        .await?;
    keeps_an_editor(&state, id, body.user_id).await?;
    if !state.store.remove_member(id, body.user_id).await? {
        return Err(ApiError::not_found());
    }
    state
        .store
        .expire_user_sessions(body.user_id, now())
        .await?;
    Ok(axum::Json(body))
}

#[utoipa::path(
    put,
    path = "/organizations/{id}/invite",
    operation_id = "organizations.edit_role",
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = EditRolePost,
    responses((status = 200, description = "The member's new role (nobody changes their own)", body = EditRolePost))
)]
pub async fn edit_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<EditRolePost>,
) -> ApiResult<axum::Json<EditRolePost>> {
    principal
        .authorize_org(id, Action::OrganizationEditRole)
        .await?;
    let role = role(&body.role)?;
    if matches!(&principal, Principal::User(session) if session.user_id == body.user_id) {
        return Err(ApiError::forbidden());
    }
    if role != Role::Editor {
        keeps_an_editor(&state, id, body.user_id).await?;
    }
    if !state.store.set_member_role(id, body.user_id, role).await? {
        return Err(ApiError::not_found());
    }
    state
        .store
        .expire_user_sessions(body.user_id, now())
        .await?;
    Ok(axum::Json(body))
}
