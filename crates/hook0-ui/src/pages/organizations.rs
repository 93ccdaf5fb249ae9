//! Organizations: the list (with a form to create one) and each one's dashboard (its
//! applications, a form to create one, and its events per day).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chart::{self, Chart};
use crate::client::Problem;
use crate::pages::{can_edit, membership, refused, signed_in_form, Membership, OrgPage};
use crate::session::{self, Session};
use crate::{page, redirect, UiState};

/// Days the dashboards' charts cover.
pub(crate) const CHART_DAYS: i64 = 30;

pub(crate) struct OrganizationItem {
    pub id: String,
    pub name: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "organizations.html")]
struct ListPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    organizations: Vec<OrganizationItem>,
    problem: Option<Problem>,
}

pub(crate) struct ApplicationItem {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "organization.html")]
struct DashboardPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    org_id: Uuid,
    /// The user's other organizations (the switcher).
    other_orgs: Vec<OrganizationItem>,
    name: String,
    role: String,
    can_edit: bool,
    applications: Vec<ApplicationItem>,
    chart: Chart,
    deliveries: Chart,
    problem: Option<Problem>,
}

pub(crate) fn organization_items(list: &Value) -> Vec<OrganizationItem> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|o| OrganizationItem {
            id: o["organization_id"].as_str().unwrap_or_default().to_owned(),
            name: o["name"].as_str().unwrap_or_default().to_owned(),
            role: o["role"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

pub async fn list(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    let Some(mut session) = Session::from_headers(&ui, &headers) else {
        return redirect("/login", Vec::new());
    };
    let (csrf, set) = session::csrf(&ui, &headers);
    let answer = session.get("/organizations").await;
    if !answer.is_success() {
        return refused(&ui, &session, &csrf, &answer);
    }
    let template = ListPage {
        signed_in: true,
        csrf: &csrf,
        organizations: organization_items(&answer.body),
        problem: None,
    };
    let mut cookies = session.set_cookies.clone();
    cookies.extend(set);
    page(StatusCode::OK, &template, cookies)
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<NameForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let created = session
        .call(
            Method::POST,
            "/organizations",
            Some(&json!({ "name": form.name })),
        )
        .await;
    if created.is_success() {
        let id = created.body["organization_id"].as_str().unwrap_or_default();
        return redirect(
            &format!("/organizations/{id}/dashboard"),
            session.set_cookies,
        );
    }
    if session.token_refused(&created) {
        return refused(&ui, &session, &csrf, &created);
    }
    let listed = session.get("/organizations").await;
    let template = ListPage {
        signed_in: true,
        csrf: &csrf,
        organizations: organization_items(&listed.body),
        problem: Some(created.problem()),
    };
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &template,
        session.set_cookies.clone(),
    )
}

pub async fn dashboard(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Response {
    let Some(mut session) = Session::from_headers(&ui, &headers) else {
        return redirect("/login", Vec::new());
    };
    let (csrf, set) = session::csrf(&ui, &headers);
    let Ok(org) = org.parse::<Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let mut response = render_dashboard(&ui, &mut session, &csrf, org, None).await;
    if let Some(cookie) = set {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    response
}

pub(crate) fn not_found() -> crate::client::Answer {
    crate::client::Answer {
        status: StatusCode::NOT_FOUND,
        body: Value::Null,
        next_cursor: None,
    }
}

/// The organization's dashboard, with `problem` shown when a form on it was refused.
pub(crate) async fn render_dashboard(
    ui: &UiState,
    session: &mut Session<'_>,
    csrf: &str,
    org: Uuid,
    problem: Option<Problem>,
) -> Response {
    let info = session.get(&format!("/organizations/{org}")).await;
    if !info.is_success() {
        return refused(ui, session, csrf, &info);
    }
    let Membership { role, others } = membership(session, &org.to_string()).await;
    let apps = session
        .get(&format!("/applications?organization_id={org}"))
        .await;
    if !apps.is_success() {
        return refused(ui, session, csrf, &apps);
    }
    let today = hook0_core::model::now().date_naive();
    let from = today - Duration::days(CHART_DAYS - 1);
    let days = session
        .get(&format!(
            "/events_per_day/organization?organization_id={org}&from={from}&to={today}"
        ))
        .await;
    let applications: Vec<ApplicationItem> = apps
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| ApplicationItem {
            id: a["application_id"].as_str().unwrap_or_default().to_owned(),
            name: a["name"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    // Deliveries of every application, summed day by day by the chart.
    let mut outcomes = Vec::new();
    for app in &applications {
        let answer = session
            .get(&format!(
                "/deliveries_per_day/application?application_id={}&from={from}&to={today}",
                app.id
            ))
            .await;
        outcomes.extend(answer.body.as_array().cloned().unwrap_or_default());
    }
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = DashboardPage {
        signed_in: true,
        other_orgs: others,
        csrf,
        org_id: org,
        name: info.body["name"].as_str().unwrap_or_default().to_owned(),
        can_edit: can_edit(&role),
        role,
        applications,
        chart: chart::events_per_day("org-events", &days.body, today, CHART_DAYS),
        deliveries: chart::deliveries_per_day(
            "org-deliveries",
            &Value::Array(outcomes),
            today,
            CHART_DAYS,
        ),
        problem,
    };
    page(status, &template, session.set_cookies.clone())
}

#[derive(Template)]
#[template(path = "org_settings.html")]
struct SettingsPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    org_id: Uuid,
    /// The user's other organizations (the switcher).
    other_orgs: Vec<OrganizationItem>,
    name: String,
    can_edit: bool,
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

async fn render_settings(
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
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = SettingsPage {
        signed_in: true,
        other_orgs: others,
        csrf: &ctx.csrf,
        org_id: org,
        name: ctx.info["name"].as_str().unwrap_or_default().to_owned(),
        can_edit: can_edit(&role),
        notice,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn settings(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Response {
    render_settings(&ui, &headers, &org, None, None).await
}

pub async fn rename(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<NameForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(org_id) = org.parse::<Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let renamed = session
        .call(
            Method::PUT,
            &format!("/organizations/{org_id}"),
            Some(&json!({ "name": form.name })),
        )
        .await;
    if renamed.is_success() {
        return render_settings(&ui, &headers, &org, Some("Renamed."), None).await;
    }
    if session.token_refused(&renamed) || renamed.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &renamed);
    }
    render_settings(&ui, &headers, &org, None, Some(renamed.problem())).await
}

pub async fn delete(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<crate::pages::subscriptions::CsrfOnly>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(org_id) = org.parse::<Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let deleted = session
        .call(Method::DELETE, &format!("/organizations/{org_id}"), None)
        .await;
    if deleted.is_success() {
        return redirect("/organizations", session.set_cookies);
    }
    if session.token_refused(&deleted) || deleted.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &deleted);
    }
    render_settings(&ui, &headers, &org, None, Some(deleted.problem())).await
}
