//! `hook0 init`, `login`, `logout` and `whoami`: profiles of the config file, checked against
//! the server before they are saved.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use hook0_sdk::Client;
use serde_json::json;
use uuid::Uuid;

use crate::client::config::{Profile, Store};
use crate::client::{CommandResult, Context, Failure, Global, Rendered, DEFAULT_API_URL};

#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// The profile to save (default: `default`, or --profile).
    #[arg(long = "name")]
    pub name: Option<String>,
}

/// A value from its flag or env var, else asked on a terminal.
fn ask(value: Option<String>, question: &str, default: Option<&str>) -> Result<String, Failure> {
    if let Some(value) = value {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        return match default {
            Some(d) => Ok(d.to_owned()),
            None => Err(Failure::new(
                1,
                format!("{question}: not given"),
                Some("pass --api-url, --secret and --application-id (or HOOK0_API_URL, HOOK0_SECRET, HOOK0_APPLICATION_ID)"),
            )),
        };
    }
    match default {
        Some(d) => eprint!("{question} [{d}]: "),
        None => eprint!("{question}: "),
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(1, e.to_string(), None))?;
    let line = line.trim();
    match (line.is_empty(), default) {
        (true, Some(d)) => Ok(d.to_owned()),
        (true, None) => Err(Failure::new(1, format!("{question}: not given"), None)),
        _ => Ok(line.to_owned()),
    }
}

/// `hook0 login` (and `init`): checks the secret against the application, then saves the
/// profile and its secret.
pub async fn login(global: &Global, args: LoginArgs) -> CommandResult {
    let api_url = ask(global.api_url.clone(), "API URL", Some(DEFAULT_API_URL))?;
    let application_id = ask(
        global.application_id.map(|id| id.to_string()),
        "Application id",
        None,
    )?;
    let application_id: Uuid = application_id.parse().map_err(|_| {
        Failure::new(
            4,
            format!("`{application_id}` is not an application id (a UUID)"),
            None,
        )
    })?;
    let secret = ask(global.secret.clone(), "API key of the application", None)?;
    let client = Client::new(&api_url, &secret).map_err(|e| Failure::from_sdk(e, false))?;
    let app = client
        .application(application_id)
        .await
        .map_err(|e| Failure::from_sdk(e, global.verbose > 0))?;
    let name = args
        .name
        .or_else(|| global.profile.clone())
        .unwrap_or_else(|| "default".to_owned());
    let mut store = Store::open()?;
    store.save_profile(
        &name,
        Profile {
            api_url: client.api_url().to_owned(),
            application_id: Some(application_id),
            organization_id: Some(app.organization_id),
        },
        &secret,
    )?;
    Ok(Rendered::record(
        vec![
            ("profile", name.clone()),
            ("application", format!("{} ({})", app.name, application_id)),
            ("api_url", client.api_url().to_owned()),
            ("config", store.config_path().display().to_string()),
        ],
        json!({ "profile": name, "application_id": application_id, "api_url": client.api_url() }),
    ))
}

/// `hook0 logout`: forgets a profile and its secret.
pub fn logout(global: &Global) -> CommandResult {
    let mut store = Store::open()?;
    let name = global
        .profile
        .clone()
        .or_else(|| store.config.default_profile.clone())
        .ok_or_else(|| Failure::new(1, "no profile to log out of", None))?;
    if !store.remove_profile(&name)? {
        return Err(Failure::new(
            1,
            format!("no profile `{name}`"),
            Some("`hook0 config list` shows the profiles"),
        ));
    }
    Ok(Rendered::record(
        vec![("logged_out", name.clone())],
        json!({ "logged_out": name }),
    ))
}

/// `hook0 whoami`: where the CLI points and with which application.
pub async fn whoami(ctx: &Context) -> CommandResult {
    let app = ctx
        .client
        .application(ctx.application_id)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(Rendered::record(
        vec![
            (
                "profile",
                ctx.profile
                    .clone()
                    .unwrap_or_else(|| "(environment)".into()),
            ),
            ("api_url", ctx.api_url.clone()),
            (
                "application",
                format!("{} ({})", app.name, app.application_id),
            ),
            ("organization_id", app.organization_id.to_string()),
        ],
        json!({
            "profile": ctx.profile,
            "api_url": ctx.api_url,
            "application_id": app.application_id,
            "application_name": app.name,
            "organization_id": app.organization_id,
        }),
    ))
}
