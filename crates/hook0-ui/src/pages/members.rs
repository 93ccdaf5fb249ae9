//! An organization's members: the list with their roles; for editors, invite a registered
//! user with a role, change a role, remove a member.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::client::Problem;
use crate::pages::organizations::{not_found, OrganizationItem};
use crate::pages::{can_edit, forged, refused, OrgPage};
use crate::session::{self, Session};
use crate::{redirect, UiState};

const ROLES: [&str; 2] = ["editor", "viewer"];

pub(crate) struct MemberView {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    org_id: Uuid,
    /// The user's other organizations (the switcher).
    other_orgs: Vec<OrganizationItem>,
    name: String,
    can_edit: bool,
    members: Vec<MemberView>,
    roles: &'static [&'static str],
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

async fn render(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    notice: Option<&str>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match OrgPage::open(ui, headers, org).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let (org, role, others) = (ctx.id, ctx.role.clone(), std::mem::take(&mut ctx.others));
    let members = ctx.info["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            let text = |k: &str| u[k].as_str().unwrap_or_default().to_owned();
            MemberView {
                user_id: text("user_id"),
                name: format!("{} {}", text("first_name"), text("last_name")),
                email: text("email"),
                role: text("role"),
            }
        })
        .collect();
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = MembersPage {
        signed_in: true,
        other_orgs: others,
        csrf: &ctx.csrf,
        org_id: org,
        name: ctx.info["name"].as_str().unwrap_or_default().to_owned(),
        can_edit: can_edit(&role),
        members,
        roles: &ROLES,
        notice,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Response {
    render(&ui, &headers, &org, None, None).await
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    role: String,
}

/// Runs one membership change through the API, then shows the page again.
async fn change(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    form: &MemberForm,
    method: Method,
    body: serde_json::Value,
    done: &str,
) -> Response {
    let (csrf, _) = session::csrf(ui, headers);
    if !session::form_is_ours(ui, headers, &form.csrf) {
        return forged(&csrf, true);
    }
    let Some(mut session) = Session::from_headers(ui, headers) else {
        return redirect("/login", Vec::new());
    };
    let Ok(org_id) = org.parse::<Uuid>() else {
        return refused(ui, &session, &csrf, &not_found());
    };
    let answer = session
        .call(
            method,
            &format!("/organizations/{org_id}/invite"),
            Some(&body),
        )
        .await;
    if answer.is_success() {
        return render(ui, headers, org, Some(done), None).await;
    }
    if session.token_refused(&answer) || answer.status == StatusCode::FORBIDDEN {
        return refused(ui, &session, &csrf, &answer);
    }
    render(ui, headers, org, None, Some(answer.problem())).await
}

pub async fn invite(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let body = json!({ "email": form.email, "role": form.role });
    change(&ui, &headers, &org, &form, Method::POST, body, "Invited.").await
}

pub async fn set_role(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let body = json!({ "user_id": form.user_id, "role": form.role });
    change(
        &ui,
        &headers,
        &org,
        &form,
        Method::PUT,
        body,
        "Role changed.",
    )
    .await
}

pub async fn remove(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let body = json!({ "user_id": form.user_id });
    change(&ui, &headers, &org, &form, Method::DELETE, body, "Removed.").await
}
