//! The client commands of the `hook0` binary (`event`, `subscription`, `login`, …): upstream's
//! names, flags, environment variables, config files and exit codes, on our SDK.

pub mod commands;
pub mod config;
pub mod output;

use clap::Args;
use hook0_sdk::Client;
use uuid::Uuid;

pub use output::{Output, Rendered};

/// Where `hook0 serve` listens by default.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080/api/v1";

/// The options every client command takes (before or after its name).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Client options")]
pub struct Global {
    /// The profile of the config file to use (default: its `default_profile`).
    #[arg(short = 'p', long, env = "HOOK0_PROFILE", global = true)]
    pub profile: Option<String>,
    /// How to print results: a table, the API's JSON, or one tab-separated line per row.
    #[arg(short = 'o', long, value_enum, default_value = "table", global = true)]
    pub output: Output,
    /// The API root, with `/api/v1` (default: the profile's, else http://127.0.0.1:8080/api/v1).
    #[arg(long, env = "HOOK0_API_URL", global = true)]
    pub api_url: Option<String>,
    /// An application secret (API key) of the application (default: the profile's).
    #[arg(long, env = "HOOK0_SECRET", global = true, hide_env_values = true)]
    pub secret: Option<String>,
    /// The application to act on (default: the profile's).
    #[arg(long, env = "HOOK0_APPLICATION_ID", global = true)]
    pub application_id: Option<Uuid>,
    /// More detail on errors (-v: the API's full problem).
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// A failed command: what to print, and the exit code (upstream's: 2 refused credentials,
/// 3 not found, 4 refused input, 5 no answer, 1 anything else).
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    /// An API error, with the problem's validation details when `verbose`.
    pub fn from_sdk(error: hook0_sdk::Error, verbose: bool) -> Self {
        use hook0_sdk::Error;
        match &error {
            Error::Api {
                status, problem, ..
            } => {
                let (code, hint) = match status {
                    401 | 403 => (
                        2,
                        Some("check the secret and the application id: `hook0 whoami`, or `hook0 login` again"),
                    ),
                    404 => (3, Some("check the id: the `list` commands show what exists")),
                    400 | 422 => (4, None),
                    _ => (1, None),
                };
                let mut message = format!("{} ({}): {}", problem.title, problem.id, problem.detail);
                if let Some(validation) = &problem.validation {
                    for line in validation_lines(validation) {
                        message.push_str("\n  ");
                        message.push_str(&line);
                    }
                }
                if verbose {
                    message.push_str(&format!("\n  HTTP {status}"));
                }
                Self::new(code, message, hint)
            }
            Error::Transport { .. } => Self::new(
                5,
                error.to_string(),
                Some("is the server running? `hook0 serve` starts one; --api-url or HOOK0_API_URL say where it is"),
            ),
            Error::Invalid(_) => Self::new(4, error.to_string(), None),
            Error::Unexpected(_) => Self::new(1, error.to_string(), None),
        }
    }
}

/// `field: message` lines from a problem's `validation` object.
fn validation_lines(validation: &serde_json::Value) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(fields) = validation.as_object() {
        for (field, errors) in fields {
            let what = errors
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|e| {
                            e["message"]
                                .as_str()
                                .or_else(|| e["code"].as_str())
                                .map(str::to_owned)
                                .unwrap_or_else(|| e.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_else(|| errors.to_string());
            lines.push(format!("{field}: {what}"));
        }
    }
    lines
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::new(1, format!("{error:#}"), None)
    }
}

pub type CommandResult = Result<Rendered, Failure>;

/// Credentials and the application a command works with, from flags, environment and profile.
pub struct Context {
    pub client: Client,
    pub api_url: String,
    pub secret: String,
    pub application_id: Uuid,
    pub profile: Option<String>,
    pub verbose: bool,
}

impl Context {
    /// With the three of `--api-url`, `--secret` and `--application-id` (or their env vars)
    /// no file is read; otherwise the profile fills what is missing.
    pub fn resolve(global: &Global) -> Result<Self, Failure> {
        let mut api_url = global.api_url.clone();
        let mut secret = global.secret.clone();
        let mut application_id = global.application_id;
        let mut profile_name = None;
        if api_url.is_none() || secret.is_none() || application_id.is_none() {
            let store = config::Store::open()?;
            let name = global
                .profile
                .clone()
                .or_else(|| store.config.default_profile.clone());
            if let Some(name) = name {
                let profile = store.config.profiles.get(&name).ok_or_else(|| {
                    Failure::new(
                        1,
                        format!("no profile `{name}` in {}", store.config_path().display()),
                        Some("`hook0 config list` shows the profiles; `hook0 login` adds one"),
                    )
                })?;
                api_url = api_url.or_else(|| Some(profile.api_url.clone()));
                application_id = application_id.or(profile.application_id);
                secret = secret.or_else(|| store.secret(&name).map(str::to_owned));
                profile_name = Some(name);
            }
        }
        let api_url = api_url.unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let secret = secret.ok_or_else(|| {
            Failure::new(
                2,
                "no secret to authenticate with",
                Some("run `hook0 login`, or set HOOK0_SECRET to an API key of the application"),
            )
        })?;
        let application_id = application_id.ok_or_else(|| {
            Failure::new(
                1,
                "no application to act on",
                Some("run `hook0 login`, or set HOOK0_APPLICATION_ID"),
            )
        })?;
        let client =
            Client::new(&api_url, &secret).map_err(|e| Failure::from_sdk(e, global.verbose > 0))?;
        Ok(Self {
            client,
            api_url,
            secret,
            application_id,
            profile: profile_name,
            verbose: global.verbose > 0,
        })
    }

    /// An SDK error as this command's failure.
    pub fn fail(&self, error: hook0_sdk::Error) -> Failure {
        Failure::from_sdk(error, self.verbose)
    }
}

/// Runs a client command and exits with its code; errors go to stderr with what to do next.
pub fn finish(output: Output, result: CommandResult) -> ! {
    match result {
        Ok(rendered) => {
            rendered.print(output);
            std::process::exit(0)
        }
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if let Some(hint) = failure.hint {
                eprintln!("hint: {hint}");
            }
            std::process::exit(failure.code)
        }
    }
}
