//! An organization's service tokens: list, create (the Biscuit is shown once: Hook0 keeps no
//! copy), revoke; and restriction (attenuation) of a token the user holds, done here on the
//! server with biscuit-auth: to one application, until a date, to some actions. The result is
//! shown once and never stored.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::{Algorithm, Biscuit, PublicKey};
use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use crate::client::Problem;
use crate::pages::organizations::{not_found, OrganizationItem};
use crate::pages::{can_edit, forged, readable_time, refused, signed_in_form, OrgPage};
use crate::session::{self, Session};
use crate::{redirect, UiState};

/// Actions a restricted token may be limited to.
const ACTIONS: [&str; 10] = [
    "event:ingest",
    "event:list",
    "event:get",
    "event:replay",
    "request_attempt:list",
    "request_attempt:get",
    "response:get",
    "subscription:list",
    "subscription:get",
    "event_type:list",
];

pub(crate) struct Shown {
    pub title: &'static str,
    pub token: String,
}

#[derive(Template)]
#[template(path = "service_tokens.html")]
struct TokensPage<'a> {
    signed_in: bool,
    csrf: &'a str,
    org_id: Uuid,
    /// The user's other organizations (the switcher).
    other_orgs: Vec<OrganizationItem>,
    name: String,
    can_edit: bool,
    tokens: Vec<(String, String, String)>,
    applications: Vec<(String, String)>,
    actions: &'static [&'static str],
    shown: Option<Shown>,
    problem: Option<Problem>,
}

fn problem(title: &str, detail: &str) -> Problem {
    Problem {
        id: "Validation".into(),
        title: title.into(),
        detail: detail.into(),
        fields: Vec::new(),
    }
}

async fn render(
    ui: &UiState,
    headers: &HeaderMap,
    org: &str,
    shown: Option<Shown>,
    problem: Option<Problem>,
) -> Response {
    let mut ctx = match OrgPage::open(ui, headers, org).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let (org, role, others) = (ctx.id, ctx.role.clone(), std::mem::take(&mut ctx.others));
    let can_edit = can_edit(&role);
    let tokens = if can_edit {
        let found = ctx
            .session
            .get(&format!("/service_token?organization_id={org}"))
            .await;
        found
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let text = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                (
                    text("token_id"),
                    text("name"),
                    readable_time(&text("created_at")),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let apps = ctx
        .session
        .get(&format!("/applications?organization_id={org}"))
        .await;
    let applications = apps
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (text("application_id"), text("name"))
        })
        .collect();
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let template = TokensPage {
        signed_in: true,
        other_orgs: others,
        csrf: &ctx.csrf,
        org_id: org,
        name: ctx.info["name"].as_str().unwrap_or_default().to_owned(),
        can_edit,
        tokens,
        applications,
        actions: &ACTIONS,
        shown,
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

/// A form's fields as pairs (checkboxes repeat `actions`).
fn fields(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn create(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: String,
) -> Response {
    let form = fields(&body);
    let (mut session, csrf) = match signed_in_form(&ui, &headers, field(&form, "csrf")) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let created = session
        .call(
            Method::POST,
            "/service_token",
            Some(&json!({ "organization_id": org, "name": field(&form, "name") })),
        )
        .await;
    if created.is_success() {
        let shown = Shown {
            title: "Your new service token (copy it now: it is not shown again):",
            token: created.body["biscuit"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        return render(&ui, &headers, &org, Some(shown), None).await;
    }
    if session.token_refused(&created) || created.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &created);
    }
    render(&ui, &headers, &org, None, Some(created.problem())).await
}

pub async fn revoke(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: String,
) -> Response {
    let form = fields(&body);
    let (mut session, csrf) = match signed_in_form(&ui, &headers, field(&form, "csrf")) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(token_id), Ok(org_id)) = (
        field(&form, "token_id").parse::<Uuid>(),
        org.parse::<Uuid>(),
    ) else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let revoked = session
        .call(
            Method::DELETE,
            &format!("/service_token/{token_id}?organization_id={org_id}"),
            None,
        )
        .await;
    if !revoked.is_success() {
        return refused(&ui, &session, &csrf, &revoked);
    }
    redirect(
        &format!("/organizations/{org}/service_tokens"),
        session.set_cookies,
    )
}

/// The Datalog block restricting a token; every value in it was checked first.
fn restriction(application: Option<Uuid>, until: Option<NaiveDate>, actions: &[&str]) -> String {
    let mut code = String::new();
    if let Some(app) = application {
        code.push_str(&format!(
            "check if application_id(hex:{});\n",
            hex::encode(app.as_bytes())
        ));
    }
    if let Some(day) = until {
        code.push_str(&format!("check if time($t), $t <= {day}T23:59:59Z;\n"));
    }
    if !actions.is_empty() {
        let any: Vec<String> = actions.iter().map(|a| format!("action(\"{a}\")")).collect();
        code.push_str(&format!("check if {};\n", any.join(" or ")));
    }
    code
}

pub async fn restrict(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: String,
) -> Response {
    let form = fields(&body);
    let (csrf, _) = session::csrf(&ui, &headers);
    if !session::form_is_ours(&ui, &headers, field(&form, "csrf")) {
        return forged(&csrf, true);
    }
    if Session::from_headers(&ui, &headers).is_none() {
        return redirect("/login", Vec::new());
    }
    let application = match field(&form, "application_id") {
        "" => None,
        id => match id.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                let p = problem("Unknown application", "Pick one from the list.");
                return render(&ui, &headers, &org, None, Some(p)).await;
            }
        },
    };
    let until = match field(&form, "until") {
        "" => None,
        day => match day.parse::<NaiveDate>() {
            Ok(day) => Some(day),
            Err(_) => {
                let p = problem("Invalid date", "Use the date picker (YYYY-MM-DD).");
                return render(&ui, &headers, &org, None, Some(p)).await;
            }
        },
    };
    let actions: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| form.iter().any(|(k, v)| k == "actions" && v == a))
        .collect();
    if application.is_none() && until.is_none() && actions.is_empty() {
        let p = problem(
            "Nothing to restrict",
            "Choose an application, a date or some actions.",
        );
        return render(&ui, &headers, &org, None, Some(p)).await;
    }
    let instance = ui.api.call(Method::GET, "/instance", None, None).await;
    let key = instance.body["biscuit_public_key"]
        .as_str()
        .and_then(|hex| PublicKey::from_bytes_hex(hex, Algorithm::Ed25519).ok());
    let parent = key.and_then(|key| Biscuit::from_base64(field(&form, "token").trim(), key).ok());
    let Some(parent) = parent else {
        let p = problem(
            "Not a token of this instance",
            "Paste a service token as it was shown to you.",
        );
        return render(&ui, &headers, &org, None, Some(p)).await;
    };
    let restricted = BlockBuilder::new()
        .code(restriction(application, until, &actions).as_str())
        .ok()
        .and_then(|block| parent.append(block).ok())
        .and_then(|token| token.to_base64().ok());
    match restricted {
        Some(token) => {
            let shown = Shown {
                title: "The restricted token (copy it now: it is not shown again, nor kept):",
                token,
            };
            render(&ui, &headers, &org, Some(shown), None).await
        }
        None => {
            let p = problem(
                "The token could not be restricted",
                "Try again with the token as it was shown.",
            );
            render(&ui, &headers, &org, None, Some(p)).await
        }
    }
}

pub async fn rename(
    State(ui): State<UiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: String,
) -> Response {
    let form = fields(&body);
    let (mut session, csrf) = match signed_in_form(&ui, &headers, field(&form, "csrf")) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (Ok(token_id), Ok(org_id)) = (
        field(&form, "token_id").parse::<Uuid>(),
        org.parse::<Uuid>(),
    ) else {
        return refused(&ui, &session, &csrf, &not_found());
    };
    let renamed = session
        .call(
            Method::PUT,
            &format!("/service_token/{token_id}"),
            Some(&json!({ "organization_id": org_id, "name": field(&form, "name") })),
        )
        .await;
    if renamed.is_success() {
        return redirect(
            &format!("/organizations/{org}/service_tokens"),
            session.set_cookies,
        );
    }
    if session.token_refused(&renamed) || renamed.status == StatusCode::FORBIDDEN {
        return refused(&ui, &session, &csrf, &renamed);
    }
    render(&ui, &headers, &org, None, Some(renamed.problem())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_are_plain_checks() {
        let app: Uuid = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        let code = restriction(
            Some(app),
            Some("2030-01-31".parse().unwrap()),
            &["event:ingest", "event:list"],
        );
        assert_eq!(
            code,
            "check if application_id(hex:00112233445566778899aabbccddeeff);\n\
             check if time($t), $t <= 2030-01-31T23:59:59Z;\n\
             check if action(\"event:ingest\") or action(\"event:list\");\n"
        );
        assert!(
            BlockBuilder::new().code(code.as_str()).is_ok(),
            "valid Datalog"
        );
    }
}
