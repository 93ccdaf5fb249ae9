//! Command line and environment: one typed configuration built by clap. Names follow upstream
//! Hook0's environment variables wherever the two overlap.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "hook0",
    version,
    about = "Hook0: webhooks as a service. Ingests your events over a REST API, routes them to \
             your customers' endpoints, signs and retries every delivery.",
    long_about = "Hook0: webhooks as a service.\n\n\
        Quick start: `hook0 serve` runs the API and the delivery worker in one process on an \
        embedded SQLite database in ./hook0-data. Set MASTER_API_KEY (a UUID) to authenticate \
        with `Authorization: Bearer <MASTER_API_KEY>`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the API and the delivery worker in one process (the usual way to start).
    Serve(ServeArgs),
    /// Run only the API (scale out: several API processes on one PostgreSQL database).
    Api(ServeArgs),
    /// Run only the delivery worker.
    Worker(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory holding the embedded SQLite database (used when DATABASE_URL is not set).
    #[arg(long, env = "HOOK0_DATA_DIR", default_value = "./hook0-data")]
    pub data_dir: PathBuf,
    /// Database to use instead of the embedded one: `sqlite://path/to/file.db` (or
    /// `postgres://…` once supported).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Database connections in the pool (readers, on SQLite).
    #[arg(long, env = "MAX_DB_CONNECTIONS", default_value_t = 8)]
    pub max_db_connections: u32,
    /// Do not apply database migrations at start.
    #[arg(long, env = "NO_AUTO_DB_MIGRATION", default_value_t = false)]
    pub no_auto_db_migration: bool,
}

impl StoreArgs {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("hook0.db").display()),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Address the API listens on.
    #[arg(long, env = "IP", default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Port the API listens on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// A UUID accepted as `Authorization: Bearer <key>` for every operation. Keep it secret.
    #[arg(long, env = "MASTER_API_KEY", hide_env_values = true)]
    pub master_api_key: Option<Uuid>,
    /// Public URL of this instance, used in pagination links [default: http://IP:PORT].
    #[arg(long, env = "APP_URL")]
    pub app_url: Option<String>,
    /// Accept application secrets as Bearer tokens (the CLI and SDKs rely on it).
    #[arg(long, env = "ENABLE_APPLICATION_SECRET_COMPATIBILITY", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_application_secret_compatibility: bool,
    /// When set, `GET /api/v1/health` requires `?key=<this value>`.
    #[arg(long, env = "HEALTH_CHECK_KEY", hide_env_values = true)]
    pub health_check_key: Option<String>,
    /// Add X-Content-Type-Options, X-Frame-Options, Referrer-Policy and X-XSS-Protection headers.
    #[arg(long, env = "ENABLE_SECURITY_HEADERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_security_headers: bool,

    #[command(flatten)]
    pub worker: WorkerArgs,

    /// Log format: `text` (default) or `json`. Levels come from RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Name recorded on the attempts this worker picks.
    #[arg(long, env = "WORKER_NAME", default_value = "hook0-worker")]
    pub worker_name: String,
    /// Deliveries in flight at once.
    #[arg(long, env = "CONCURRENT", default_value_t = 64)]
    pub concurrent: usize,
    /// Retries after the first attempt before giving up (25 deliveries ≈ 7.5 days by default).
    #[arg(long, env = "MAX_RETRIES", default_value_t = 24)]
    pub max_retries: u32,
    /// Random extra delay added to each retry, as a fraction of its base delay (at least 2 s).
    #[arg(long, env = "RETRY_JITTER_RATIO", default_value_t = 0.1)]
    pub retry_jitter_ratio: f64,
    /// Upper bound of the random extra delay.
    #[arg(long, env = "RETRY_JITTER_MAX_SPREAD", default_value = "15m", value_parser = humantime::parse_duration)]
    pub retry_jitter_max_spread: Duration,
    /// Override the retry delays (comma list, e.g. `1s,2s,5s`; the last repeats). For tests and
    /// special set-ups; the default is upstream's 3s,10s,3m,30m,1h,3h,5h,10h.
    #[arg(long, env = "RETRY_SCHEDULE", hide = true)]
    pub retry_schedule: Option<String>,
    /// TCP connect timeout of a delivery.
    #[arg(long, env = "CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Total timeout of a delivery.
    #[arg(long, env = "TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// How long a claimed attempt stays reserved for its worker. If the worker dies, another
    /// delivers the attempt once this runs out. Must exceed TIMEOUT.
    #[arg(long, env = "DELIVERY_LEASE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub delivery_lease: Duration,
    /// Allow deliveries to private, loopback and link-local addresses (development only).
    #[arg(long, env = "DISABLE_TARGET_IP_CHECK", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_target_ip_check: bool,
    /// Name of the signature header.
    #[arg(
        long,
        env = "SIGNATURE_HEADER_NAME",
        default_value = "X-Hook0-Signature"
    )]
    pub signature_header_name: String,
    /// Signature versions to send: `v1` (default) or `v0,v1`.
    #[arg(long, env = "ENABLED_SIGNATURE_VERSIONS", default_value = "v1")]
    pub enabled_signature_versions: String,
    /// Largest response body stored per attempt, in bytes.
    #[arg(long, env = "MAX_RESPONSE_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_response_body_bytes: usize,
}
