//! `/portal_sessions` (ours, not upstream's): a sender mints a consumer portal session for one
//! of its customers, lists the live ones, and revokes one. The answer to a mint is the only
//! time the session's URL (and so its secret) is shown: only its hash is stored.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use hook0_core::model::StringMap;
use hook0_core::portal::{self, Capability, PortalSession, PortalTheme, ThemeMode};
use hook0_core::validation::{MapLimits, ValidationErrors};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Action, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::ByApplication;
use crate::state::AppState;

/// How the portal should look; every value is checked before the session is minted.
#[derive(Deserialize, ToSchema)]
pub struct ThemePost {
    /// `#rgb` or `#rrggbb`.
    accent: Option<String>,
    /// An `https` URL of an image shown at the top of the portal.
    logo_url: Option<String>,
    /// `light`, `dark` or `auto` (the customer's system preference; the default).
    mode: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PortalSessionPost {
    application_id: Uuid,
    /// The customer's scope: the session sees only subscriptions carrying all these labels,
    /// and every subscription it creates carries them. Empty: the whole application.
    #[serde(default)]
    labels: StringMap,
    /// Any of `view`, `manage_subscriptions`, `view_secret`, `rotate_secret`, `retry`,
    /// `send_test` (each implies `view`). Default: `["view"]`.
    capabilities: Option<Vec<String>>,
    /// Seconds the session lives, 300 to 604,800. Default: 3,600.
    expires_in: Option<u64>,
    /// Origins (`https://app.example.com`) whose pages may show the portal in an iframe. Empty:
    /// it can only be opened on its own.
    #[serde(default)]
    allowed_origins: Vec<String>,
    theme: Option<ThemePost>,
}

/// A live session as listed (its URL is never shown again).
#[derive(Serialize, ToSchema)]
#[schema(as = PortalSession)]
pub struct PortalSessionBody {
    portal_session_id: Uuid,
    application_id: Uuid,
    labels: StringMap,
    capabilities: Vec<Capability>,
    allowed_origins: Vec<String>,
    theme: PortalTheme,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A new session: give `url` to the customer (open it, or put it in an iframe on one of
/// `allowed_origins`). It is not shown again.
#[derive(Serialize, ToSchema)]
#[schema(as = NewPortalSession)]
pub struct NewPortalSessionBody {
    #[serde(flatten)]
    session: PortalSessionBody,
    url: String,
}

impl From<PortalSession> for PortalSessionBody {
    fn from(s: PortalSession) -> Self {
        Self {
            portal_session_id: s.id,
            application_id: s.application_id,
            labels: s.labels,
            capabilities: s.capabilities,
            allowed_origins: s.allowed_origins,
            theme: s.theme,
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

/// What the request asks for, checked: every problem of every field in one 422.
struct Checked {
    capabilities: Vec<Capability>,
    expires_in: u64,
    allowed_origins: Vec<String>,
    theme: PortalTheme,
}

impl PortalSessionPost {
    fn check(&self) -> ApiResult<Checked> {
        let mut errors = ValidationErrors::default();
        errors.check_map("labels", self.labels.iter(), MapLimits::LABELS);
        let names = self
            .capabilities
            .clone()
            .unwrap_or_else(|| vec![Capability::View.as_str().to_owned()]);
        let mut capabilities = Vec::new();
        for name in &names {
            match Capability::parse(name) {
                Some(c) if !capabilities.contains(&c) => capabilities.push(c),
                Some(_) => {}
                None => errors.add_with_message(
                    "capabilities",
                    "capability",
                    "must be one of view, manage_subscriptions, view_secret, rotate_secret, retry, send_test",
                    json!({ "value": name }),
                ),
            }
        }
        if names.is_empty() {
            errors.add_with_message(
                "capabilities",
                "length",
                "grant at least one capability (view lets the customer look)",
                json!({ "min": 1 }),
            );
        }
        let expires_in = self.expires_in.unwrap_or(portal::DEFAULT_EXPIRES_IN);
        if !(portal::MIN_EXPIRES_IN..=portal::MAX_EXPIRES_IN).contains(&expires_in) {
            errors.add_with_message(
                "expires_in",
                "range",
                "must be between 300 seconds (5 minutes) and 604800 (7 days)",
                json!({ "min": portal::MIN_EXPIRES_IN, "max": portal::MAX_EXPIRES_IN, "value": expires_in }),
            );
        }
        if self.allowed_origins.len() > portal::MAX_ALLOWED_ORIGINS {
            errors.add(
                "allowed_origins",
                "length",
                json!({ "max": portal::MAX_ALLOWED_ORIGINS }),
            );
        }
        let mut allowed_origins = Vec::new();
        for origin in &self.allowed_origins {
            match portal::parse_origin(origin) {
                Some(o) => allowed_origins.push(o),
                None => errors.add_with_message(
                    "allowed_origins",
                    "origin",
                    "must be an origin such as https://app.example.com (scheme and host, no path)",
                    json!({ "value": origin }),
                ),
            }
        }
        let mut theme = PortalTheme::default();
        if let Some(t) = &self.theme {
            theme.accent = t.accent.clone();
            theme.logo_url = t.logo_url.clone();
            match t.mode.as_deref() {
                None | Some("auto") => theme.mode = ThemeMode::Auto,
                Some("light") => theme.mode = ThemeMode::Light,
                Some("dark") => theme.mode = ThemeMode::Dark,
                Some(other) => errors.add_with_message(
                    "theme.mode",
                    "mode",
                    "must be light, dark or auto",
                    json!({ "value": other }),
                ),
            }
            for (field, message) in theme.problems() {
                errors.add_with_message(field, "theme", message, json!({}));
            }
        }
        errors.into_result()?;
        Ok(Checked {
            capabilities,
            expires_in,
            allowed_origins,
            theme,
        })
    }
}

#[utoipa::path(
    post,
    path = "/portal_sessions",
    operation_id = "portalSessions.create",
    tag = "portal",
    request_body = PortalSessionPost,
    responses(
        (status = 201, description = "The session and its URL, shown this once", body = NewPortalSessionBody),
        (status = 422, description = "A field is invalid; nothing was created"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<PortalSessionPost>,
) -> ApiResult<(StatusCode, axum::Json<NewPortalSessionBody>)> {
    let scope = principal
        .authorize_app(&state, body.application_id, Action::PortalSessionCreate)
        .await?;
    let checked = body.check()?;
    let secret = portal::new_secret();
    let created_at = state.config.clock.now();
    let session = PortalSession {
        id: Uuid::new_v4(),
        organization_id: scope.organization_id,
        application_id: body.application_id,
        secret_hash: portal::hash_secret(&secret),
        labels: body.labels,
        capabilities: checked.capabilities,
        allowed_origins: checked.allowed_origins,
        theme: checked.theme,
        created_at,
        expires_at: created_at + TimeDelta::seconds(checked.expires_in as i64),
        revoked_at: None,
    };
    state.store.create_portal_session(&session).await?;
    let url = format!(
        "{}/portal/{secret}",
        state.config.app_url.trim_end_matches('/')
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(NewPortalSessionBody {
            session: session.into(),
            url,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/portal_sessions",
    operation_id = "portalSessions.list",
    tag = "portal",
    params(ByApplication),
    responses((status = 200, description = "The application's live sessions, newest first (without their URLs)", body = Vec<PortalSessionBody>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ByApplication>,
) -> ApiResult<axum::Json<Vec<PortalSessionBody>>> {
    principal
        .authorize_app(&state, q.application_id, Action::PortalSessionList)
        .await?;
    let sessions = state
        .store
        .list_portal_sessions(q.application_id, state.config.clock.now())
        .await?;
    Ok(axum::Json(sessions.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    delete,
    path = "/portal_sessions/{id}",
    operation_id = "portalSessions.revoke",
    tag = "portal",
    params(("id" = Uuid, Path, description = "Portal session id")),
    responses(
        (status = 204, description = "Revoked: its URL stops working at once"),
        (status = 404, description = "No such session (or another organization's)"),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let session = state
        .store
        .get_portal_session(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // Another tenant's session answers like an unknown one.
    principal
        .authorize_app(&state, session.application_id, Action::PortalSessionRevoke)
        .await
        .map_err(|refused| match refused.0.status {
            403 => ApiError::not_found(),
            _ => refused,
        })?;
    state
        .store
        .revoke_portal_session(id, state.config.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
