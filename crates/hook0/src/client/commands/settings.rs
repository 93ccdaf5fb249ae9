//! `hook0 config list|show|set-default|remove|path` and `hook0 completion SHELL`.

use clap::Subcommand;
use serde_json::json;

use crate::client::config::Store;
use crate::client::{CommandResult, Failure, Rendered};

#[derive(Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// List the profiles (`*` marks the default one).
    ///
    /// Example: hook0 config list
    List,
    /// Show a profile (default: the default one); its secret is never printed.
    ///
    /// Example: hook0 config show staging
    Show { name: Option<String> },
    /// Make a profile the default one.
    ///
    /// Example: hook0 config set-default staging
    SetDefault { name: String },
    /// Remove a profile and its secret.
    ///
    /// Example: hook0 config remove staging
    Remove { name: String },
    /// Print where the config file is.
    ///
    /// Example: hook0 config path
    Path,
}

pub fn run(command: ConfigCommand) -> CommandResult {
    let mut store = Store::open()?;
    let missing = |name: &str| {
        Failure::new(
            1,
            format!("no profile `{name}`"),
            Some("`hook0 config list` shows the profiles"),
        )
    };
    match command {
        ConfigCommand::List => {
            let default = store.config.default_profile.clone();
            Ok(Rendered {
                columns: vec!["PROFILE", "DEFAULT", "API URL", "APPLICATION ID"],
                rows: store
                    .config
                    .profiles
                    .iter()
                    .map(|(name, p)| {
                        vec![
                            name.clone(),
                            if default.as_deref() == Some(name) {
                                "*".into()
                            } else {
                                String::new()
                            },
                            p.api_url.clone(),
                            p.application_id
                                .map(|id| id.to_string())
                                .unwrap_or_default(),
                        ]
                    })
                    .collect(),
                json: json!(store.config),
                record: false,
            })
        }
        ConfigCommand::Show { name } => {
            let name = name
                .or_else(|| store.config.default_profile.clone())
                .ok_or_else(|| Failure::new(1, "no profile yet", Some("run `hook0 login`")))?;
            let profile = store
                .config
                .profiles
                .get(&name)
                .cloned()
                .ok_or_else(|| missing(&name))?;
            let has_secret = store.secret(&name).is_some();
            Ok(Rendered::record(
                vec![
                    ("profile", name.clone()),
                    ("api_url", profile.api_url.clone()),
                    (
                        "application_id",
                        profile
                            .application_id
                            .map(|id| id.to_string())
                            .unwrap_or_default(),
                    ),
                    (
                        "organization_id",
                        profile
                            .organization_id
                            .map(|id| id.to_string())
                            .unwrap_or_default(),
                    ),
                    (
                        "secret",
                        if has_secret {
                            "(saved)".into()
                        } else {
                            "(none)".into()
                        },
                    ),
                ],
                json!({ "name": name, "profile": profile, "secret_saved": has_secret }),
            ))
        }
        ConfigCommand::SetDefault { name } => {
            if !store.config.profiles.contains_key(&name) {
                return Err(missing(&name));
            }
            store.config.default_profile = Some(name.clone());
            store.save()?;
            Ok(Rendered::record(
                vec![("default_profile", name.clone())],
                json!({ "default_profile": name }),
            ))
        }
        ConfigCommand::Remove { name } => {
            if !store.remove_profile(&name)? {
                return Err(missing(&name));
            }
            Ok(super::deleted("profile", name))
        }
        ConfigCommand::Path => {
            let path = store.config_path().display().to_string();
            Ok(Rendered::record(
                vec![("path", path.clone())],
                json!({ "path": path }),
            ))
        }
    }
}
