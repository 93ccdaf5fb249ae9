//! `hook0 application list|get|switch|current`.

use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use crate::client::config::Store;
use crate::client::{CommandResult, Context, Failure, Rendered};

#[derive(Subcommand, Debug, Clone)]
pub enum ApplicationCommand {
    /// List the applications of the current application's organization (those the secret may
    /// read).
    ///
    /// Example: hook0 application list
    List,
    /// Show an application (default: the current one), with its quotas and usage.
    ///
    /// Example: hook0 application get -o json
    Get { id: Option<Uuid> },
    /// Make another application the profile's current one.
    ///
    /// Example: hook0 application switch 0190… (its API key: --secret, or the profile's)
    Switch { id: Uuid },
    /// Show the current application.
    ///
    /// Example: hook0 application current
    Current,
}

pub async fn run(ctx: &Context, command: ApplicationCommand) -> CommandResult {
    let fail = |e| ctx.fail(e);
    match command {
        ApplicationCommand::Get { id } => show(ctx, id.unwrap_or(ctx.application_id)).await,
        ApplicationCommand::Current => show(ctx, ctx.application_id).await,
        ApplicationCommand::List => {
            let current = ctx
                .client
                .application(ctx.application_id)
                .await
                .map_err(fail)?;
            // An API key reads its own application only: then that one is the list.
            let apps = match ctx.client.applications(current.organization_id).await {
                Ok(apps) => apps,
                Err(e) if matches!(e.status(), Some(401 | 403)) => vec![current],
                Err(e) => return Err(fail(e)),
            };
            Ok(Rendered {
                columns: vec!["APPLICATION ID", "NAME", "CURRENT"],
                rows: apps
                    .iter()
                    .map(|a| {
                        vec![
                            a.application_id.to_string(),
                            a.name.clone(),
                            if a.application_id == ctx.application_id {
                                "*".into()
                            } else {
                                String::new()
                            },
                        ]
                    })
                    .collect(),
                json: json!(apps),
                record: false,
            })
        }
        ApplicationCommand::Switch { id } => {
            // The secret must open the new application before the profile points at it.
            let app = ctx.client.application(id).await.map_err(fail)?;
            let mut store = Store::open()?;
            let name = ctx.profile.clone().ok_or_else(|| {
                Failure::new(1, "no profile to switch", Some("run `hook0 login` first"))
            })?;
            let mut profile = store
                .config
                .profiles
                .get(&name)
                .cloned()
                .unwrap_or_default();
            profile.application_id = Some(id);
            profile.organization_id = Some(app.organization_id);
            if profile.api_url.is_empty() {
                profile.api_url = ctx.api_url.clone();
            }
            store.save_profile(&name, profile, &ctx.secret)?;
            Ok(Rendered::record(
                vec![
                    ("profile", name),
                    ("application_id", id.to_string()),
                    ("name", app.name.clone()),
                ],
                json!(app),
            ))
        }
    }
}

async fn show(ctx: &Context, id: Uuid) -> CommandResult {
    let app = ctx.client.application(id).await.map_err(|e| ctx.fail(e))?;
    let mut fields = vec![
        ("application_id", app.application_id.to_string()),
        ("name", app.name.clone()),
        ("organization_id", app.organization_id.to_string()),
    ];
    if let Some(today) = app
        .extra
        .get("consumption")
        .and_then(|c| c["events_per_day"].as_i64())
    {
        fields.push(("events_today", today.to_string()));
    }
    Ok(Rendered::record(fields, json!(app)))
}
