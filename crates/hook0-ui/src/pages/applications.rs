//! Applications: created from the organization's dashboard; each one's dashboard shows what is
//! left to set up and its events per day.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use crate::chart::{self, Chart};
use crate::client::Problem;
use crate::pages::organizations::{
    not_found, organization_items, render_dashboard, NameForm, OrganizationItem, CHART_DAYS,
};
use crate::pages::{refused, signed_in_form};
use crate::session::{self, Session};
use crate::{page, redirect, UiState};

/// The application a page is about, as the signed-in user sees it.
pub(crate) struct AppCtx {
    pub org_id: Uuid,
    pub org_name: String,
    pub id: Uuid,
    pub name: String,
    /// The user may change it (editor): pages show their forms.
    pub can_edit: bool,
    /// The user's other organizations (the switcher).
    pub other_orgs: Vec<OrganizationItem>,
}

impl AppCtx {
    /// The application's tabs: path segment and label.
    pub fn tabs(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("dashboard", "Dashboard"),
            ("event_types", "Event types"),
            ("subscriptions", "Subscriptions"),
            ("events", "Events"),
            ("logs", "Delivery log"),
            ("activity", "Activity"),
            ("send", "Send a test event"),
            ("application_secrets", "API keys"),
            ("portal_sessions", "Customer portal"),
            ("settings", "Settings"),
        ]
    }
}

/// A page of one application opened by a signed-in browser: what every such page starts
/// with (the session, the CSRF token, the application as the user sees it), and the answer
/// that ends it with the cookies of both.
pub(crate) struct AppPage<'a> {
    pub session: Session<'a>,
    pub csrf: String,
    /// A new CSRF cookie, when the browser had none.
    new_csrf: Option<axum::http::HeaderValue>,
    pub app: AppCtx,
    /// The API's answer for the application (`GET /applications/{id}`).
    pub info: serde_json::Value,
}

impl<'a> AppPage<'a> {
    /// The page's prologue; `Err` is the answer instead (the login page, not found).
    pub async fn open(
        ui: &'a UiState,
        headers: &HeaderMap,
        org: &str,
        app: &str,
    ) -> Result<Self, Response> {
        let Some(mut session) = Session::from_headers(ui, headers) else {
            return Err(redirect("/login", Vec::new()));
        };
        let (csrf, new_csrf) = session::csrf(ui, headers);
        let (app, info) = app_context(ui, &mut session, &csrf, org, app).await?;
        Ok(Self {
            session,
            csrf,
            new_csrf,
            app,
            info,
        })
    }

    /// The rendered page, with the renewed session's cookies and the CSRF cookie.
    pub fn respond(&self, status: StatusCode, template: &impl Template) -> Response {
        let mut cookies = self.session.set_cookies.clone();
        cookies.extend(self.new_csrf.clone());
        page(status, template, cookies)
    }
}

/// Reads the application of `/organizations/{org}/applications/{app}/…` for this user; the
/// answer to give instead when it cannot be shown (signed out, another tenant's, unknown).
pub(crate) async fn app_context(
    ui: &UiState,
    session: &mut Session<'_>,
    csrf: &str,
    org: &str,
    app: &str,
) -> Result<(AppCtx, serde_json::Value), Response> {
    let (Ok(org), Ok(app)) = (org.parse::<Uuid>(), app.parse::<Uuid>()) else {
        return Err(refused(ui, session, csrf, &not_found()));
    };
    let info = session.get(&format!("/applications/{app}")).await;
    if !info.is_success() {
        return Err(refused(ui, session, csrf, &info));
    }
    // The path names the organization too: it must be the application's.
    if info.body["organization_id"].as_str() != Some(org.to_string().as_str()) {
        return Err(refused(ui, session, csrf, &not_found()));
    }
    let listed = session.get("/organizations").await;
    if !listed.is_success() {
        return Err(refused(ui, session, csrf, &listed));
    }
    let (mine, other_orgs): (Vec<_>, Vec<_>) = organization_items(&listed.body)
        .into_iter()
        .partition(|o| o.id == org.to_string());
    let (org_name, role) = mine
        .into_iter()
        .next()
        .map(|o| (o.name, o.role))
        .unwrap_or_default();
    Ok((
        AppCtx {
            org_id: org,
            org_name,
            id: app,
            name: info.body["name"].as_str().unwrap_or_default().to_owned(),
            can_edit: role == "editor" || role == "master",
            other_orgs,
        },
        info.body,
    ))
}

#[derive(Template)]
#[template(path = "application.html")]
struct DashboardPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    /// Label, done, and the tab where it is done.
    steps: Vec<(&'static str, bool, &'static str)>,
    events_today: i64,
    events_limit: Option<i64>,
    chart: Chart,
    deliveries: Chart,
    /// Operational events: when, and what happened.
    reports: Vec<(String, String)>,
    problem: Option<Problem>,
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<NameForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(org) = org.parse::<Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let created = session
        .call(
            Method::POST,
            "/applications",
            Some(&json!({ "organization_id": org, "name": form.name })),
        )
        .await;
    if created.is_success() {
        let app = created.body["application_id"].as_str().unwrap_or_default();
        return redirect(
            &format!("/organizations/{org}/applications/{app}/dashboard"),
            session.set_cookies,
        );
    }
    if session.token_refused(&created) || created.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &created);
    }
    render_dashboard(&ui, &mut session, &csrf, org, Some(created.problem())).await
}

pub async fn dashboard(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    let mut ctx = match AppPage::open(&ui, &headers, &org, &app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let info = ctx.info.clone();
    let today = hook0_core::model::now().date_naive();
    let from = today - Duration::days(CHART_DAYS - 1);
    let days = ctx
        .session
        .get(&format!(
            "/events_per_day/application?application_id={}&from={from}&to={today}",
            ctx.app.id
        ))
        .await;
    let outcomes = ctx
        .session
        .get(&format!(
            "/deliveries_per_day/application?application_id={}&from={from}&to={today}",
            ctx.app.id
        ))
        .await;
    let reported = ctx
        .session
        .get(&format!(
            "/operational_events?application_id={}",
            ctx.app.id
        ))
        .await;
    let reports = reported
        .body
        .as_array()
        .into_iter()
        .flatten()
        .take(10)
        .map(|e| {
            let at = e["occurred_at"].as_str().unwrap_or_default().to_owned();
            let what = match e["event_type"].as_str().unwrap_or_default() {
                "api.subscription.disabled" => format!(
                    "a subscription was disabled after failing too long ({})",
                    e["payload"]["subscription_id"]
                        .as_str()
                        .unwrap_or("unknown")
                ),
                other => other.to_owned(),
            };
            (at, what)
        })
        .collect();
    let step = |key: &str| info["onboarding_steps"][key] == "Done";
    let limit = info["quotas"]["events_per_day_limit"]
        .as_i64()
        .filter(|l| *l < i64::from(i32::MAX));
    let template = DashboardPage {
        signed_in: true,
        csrf: &ctx.csrf,
        tab: "dashboard",
        steps: vec![
            ("Create an event type", step("event_type"), "event_types"),
            (
                "Subscribe an endpoint to it",
                step("subscription"),
                "subscriptions",
            ),
            ("Send a first event", step("event"), "send"),
        ],
        events_today: info["consumption"]["events_per_day"].as_i64().unwrap_or(0),
        events_limit: limit,
        chart: chart::events_per_day("app-events", &days.body, today, CHART_DAYS),
        deliveries: chart::deliveries_per_day("app-deliveries", &outcomes.body, today, CHART_DAYS),
        reports,
        problem: None,
        app: &ctx.app,
    };
    ctx.respond(StatusCode::OK, &template)
}

#[derive(Template)]
#[template(path = "app_settings.html")]
struct SettingsPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    app: &'a AppCtx,
    tab: &'static str,
    retention_days: String,
    notice: Option<&'a str>,
    problem: Option<Problem>,
}

async fn render_settings(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    app: &str,
    notice: Option<&str>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match AppPage::open(ui, headers, org, app).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let listed = ctx
        .session
        .get(&format!("/applications?organization_id={}", ctx.app.org_id))
        .await;
    let retention_days = listed
        .body
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["application_id"].as_str() == Some(ctx.app.id.to_string().as_str()))
        .and_then(|a| a["retention_days"].as_i64())
        .map(|d| d.to_string())
        .unwrap_or_default();
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = SettingsPage {
        signed_in: true,
        csrf: &ctx.csrf,
        app: &ctx.app,
        tab: "settings",
        retention_days,
        notice,
        problem,
    };
    ctx.respond(status, &template)
}

pub async fn settings(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    render_settings(&ui, &headers, &org, &app, None, None).await
}

#[derive(serde::Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    retention_days: String,
}

pub async fn save_settings(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<SettingsForm>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(app_id) = app.parse::<Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let mut body = json!({ "organization_id": org, "name": form.name });
    if let Ok(days) = form.retention_days.trim().parse::<i64>() {
        body["retention_days"] = json!(days);
    }
    let saved = session
        .call(Method::PUT, &format!("/applications/{app_id}"), Some(&body))
        .await;
    if saved.is_success() {
        return render_settings(&ui, &headers, &org, &app, Some("Saved."), None).await;
    }
    if session.token_refused(&saved) || saved.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &saved);
    }
    render_settings(&ui, &headers, &org, &app, None, Some(saved.problem())).await
}

pub async fn delete(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path((org, app)): Path<(String, String)>,
    Form(form): Form<crate::pages::subscriptions::CsrfOnly>,
) -> Response {
    let (mut session, csrf) = match signed_in_form(&ui, &headers, &form.csrf) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(app_id) = app.parse::<Uuid>() else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let deleted = session
        .call(Method::DELETE, &format!("/applications/{app_id}"), None)
        .await;
    if !deleted.is_success() {
        return refused(&ui, &session, &csrf, &deleted);
    }
    redirect(
        &format!("/organizations/{org}/dashboard"),
        session.set_cookies,
    )
}
