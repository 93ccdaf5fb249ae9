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
        embedded SQLite database in ./hook0-data. Register a user (POST /api/v1/register; \
        without SMTP the first user is verified at once) and log in, or set MASTER_API_KEY (a \
        UUID) to authenticate with `Authorization: Bearer <MASTER_API_KEY>`.\n\n\
        The same binary is the client of any Hook0 API: `hook0 login` saves a profile (API URL, \
        application, API key), then `hook0 event send`, `hook0 subscription list` … act on it. \
        Each command's --help shows an example."
)]
pub struct Cli {
    #[command(flatten)]
    pub client: crate::client::Global,
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
    /// Apply database migrations and exit; with `--from`, also copy an embedded (SQLite) install
    /// into the PostgreSQL database named by DATABASE_URL.
    Migrate(MigrateArgs),
    /// Administer user accounts.
    User(UserArgs),

    // The client: talks to a Hook0 API (this one or another) with an application's API key.
    /// Set up a profile: the API URL, the application and its API key (asked when not given).
    ///
    /// Example: hook0 init   (then answer the three questions)
    Init(crate::client::commands::account::LoginArgs),
    /// Save a profile after checking its API key against the application.
    ///
    /// Example: hook0 login --api-url http://127.0.0.1:8080/api/v1 --application-id 0190… --secret <API key>
    Login(crate::client::commands::account::LoginArgs),
    /// Forget a profile and its API key.
    ///
    /// Example: hook0 logout --profile staging
    Logout,
    /// Show where the CLI points and with which application.
    ///
    /// Example: hook0 whoami -o json
    Whoami,
    /// Send, list and show events.
    #[command(subcommand)]
    Event(crate::client::commands::events::EventCommand),
    /// Create, list and deactivate event types.
    #[command(subcommand)]
    EventType(crate::client::commands::event_types::EventTypeCommand),
    /// Create, list, change, enable, disable and delete subscriptions.
    #[command(subcommand)]
    Subscription(crate::client::commands::subscriptions::SubscriptionCommand),
    /// See and switch applications.
    #[command(subcommand)]
    Application(crate::client::commands::applications::ApplicationCommand),
    /// Receive real, signed deliveries on your machine: forwards them from the server's relay
    /// to your local server, and its answers back.
    ///
    /// Example: hook0 listen http://localhost:3000/webhooks -e billing.invoice.paid -l tenant=acme
    Listen(crate::client::commands::listen::ListenArgs),
    /// Deliver events again: one, or in bulk from filtered attempts.
    ///
    /// Example: hook0 replay --all --status failed --since 1h --dry-run
    Replay(crate::client::commands::events::ReplayArgs),
    /// Send a sample event of a type, to see a delivery.
    ///
    /// When the type has a JSON Schema, the sample is an example made from it (its `examples`,
    /// formats and minimums honoured); a schema asking for what cannot be guessed (a `pattern`)
    /// is reported instead, before anything is sent.
    ///
    /// Example: hook0 trigger billing.invoice.paid -l tenant=acme
    Trigger(crate::client::commands::events::TriggerArgs),
    /// Check a delivery's signature from its headers, with its body on standard input.
    ///
    /// Example: hook0 verify --signing-secret <secret> -H "x-hook0-signature: t=…" -H "x-event-id: …" < body.json
    Verify(crate::client::commands::verify::VerifyArgs),
    /// Manage the CLI's profiles.
    #[command(subcommand)]
    Config(crate::client::commands::settings::ConfigCommand),
    /// Print a shell completion script.
    ///
    /// Example: hook0 completion bash > /etc/bash_completion.d/hook0
    Completion { shell: clap_complete::Shell },
}

impl Command {
    /// Whether it is a client command (talks to an API) rather than a server one.
    pub fn is_client(&self) -> bool {
        !matches!(
            self,
            Command::Serve(_)
                | Command::Api(_)
                | Command::Worker(_)
                | Command::Migrate(_)
                | Command::User(_)
        )
    }
}

#[derive(Args, Debug, Clone)]
pub struct UserArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Mark a user's email address verified, so the user can log in. Needed when no SMTP
    /// server is configured (only the first user to register is verified automatically then).
    Verify {
        /// The email address the user registered with.
        email: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Copy every organization, application, secret, subscription, event, attempt and response
    /// from this SQLite data directory (or database file) into DATABASE_URL, which must be a
    /// new PostgreSQL database. Stop the old `hook0 serve` first.
    #[arg(long, value_name = "SQLITE_DATA_DIR")]
    pub from: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory holding the embedded SQLite database (used when DATABASE_URL is not set).
    #[arg(long, env = "HOOK0_DATA_DIR", default_value = "./hook0-data")]
    pub data_dir: PathBuf,
    /// Database to use instead of the embedded one: `sqlite://path/to/file.db` or
    /// `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Database connections in the pool (readers, on SQLite).
    #[arg(long, env = "MAX_DB_CONNECTIONS", default_value_t = 8)]
    pub max_db_connections: u32,
    /// PostgreSQL statement timeout (e.g. `5s`; 0 = the server's setting). A query cut short
    /// answers 503 with `Retry-After`.
    #[arg(long, env = "DB_STATEMENT_TIMEOUT", value_parser = humantime::parse_duration)]
    pub db_statement_timeout: Option<Duration>,
    /// PostgreSQL lock timeout (e.g. `3s`; 0 = the server's setting); also 503 when reached.
    #[arg(long, env = "DB_LOCK_TIMEOUT", value_parser = humantime::parse_duration)]
    pub db_lock_timeout: Option<Duration>,
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
    /// Origins (comma list, e.g. `https://app.example.com`) whose browser apps may call the
    /// API: CORS headers and preflight answers for them, none for any other origin.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// Reverse proxies or load balancers in front of this server (comma list of IPs and CIDRs,
    /// e.g. `10.0.0.0/8`; CC_REVERSE_PROXY_IPS is read too). Their `Forwarded` /
    /// `X-Forwarded-For` headers name the client, for the per-IP rate limit and the `ip` stored
    /// with each event; the same headers from anyone else are ignored.
    #[arg(long, env = "REVERSE_PROXY_IPS")]
    pub reverse_proxy_ips: Option<String>,
    /// How long a client has to send a request's headers; also how long a kept-alive
    /// connection may stay idle between requests. Half-sent or idle connections are closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_read_timeout: Duration,
    /// How long one request (its body included) may take to be read and answered (408 past it).
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub http_request_timeout: Duration,
    /// Most connections open at once; past it new ones are closed at once. Keep it under the
    /// process's file-descriptor limit (`ulimit -n`), which the database and deliveries share.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// On SIGTERM or Ctrl-C, how long requests in flight may finish before their connections
    /// are dropped.
    #[arg(long, env = "API_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub api_shutdown_grace: Duration,
    /// Do not serve the relay of `hook0 listen` (`/relay/ws`, `/relay/in/…`).
    #[arg(long, env = "DISABLE_RELAY", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_relay: bool,
    /// How long the relay holds a delivery for a listener's answer (504 past it).
    #[arg(long, env = "RELAY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub relay_timeout: Duration,
    /// Requests per second passed to one listener (upstream's limit); past it, 429.
    #[arg(long, env = "RELAY_REQUESTS_PER_SECOND", default_value_t = 50)]
    pub relay_requests_per_second: u32,
    /// Do not serve the dashboard (the web pages at `/`); the API stays.
    #[arg(long, env = "DISABLE_SERVING_WEBAPP", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_serving_webapp: bool,
    /// Believe `CF-Connecting-IP` from Cloudflare's edge ranges (and from REVERSE_PROXY_IPS).
    #[arg(long, env = "BEHIND_CLOUDFLARE", default_value_t = false, action = clap::ArgAction::Set)]
    pub behind_cloudflare: bool,

    /// Days an event (with its attempts and responses) is kept before it is deleted, unless its
    /// application sets its own `retention_days`.
    #[arg(long, env = "EVENT_RETENTION_DAYS", default_value_t = 30)]
    pub event_retention_days: u32,
    /// How often expired events are deleted, in seconds (0 turns deletion off).
    #[arg(long, env = "OLD_EVENTS_CLEANUP_PERIOD_IN_S", default_value_t = 3600)]
    pub old_events_cleanup_period_in_s: u64,
    /// How often tokens expired for longer than the grace period are cleaned up (`0s` turns
    /// it off). Sessions add two token rows per login; revoked service tokens stay until then.
    #[arg(long, env = "EXPIRED_TOKENS_CLEANUP_PERIOD", default_value = "1h", value_parser = humantime::parse_duration)]
    pub expired_tokens_cleanup_period: Duration,
    /// How long an expired or revoked token is kept (for inspection) before cleanup.
    #[arg(long, env = "EXPIRED_TOKENS_CLEANUP_GRACE_PERIOD", default_value = "7d", value_parser = humantime::parse_duration)]
    pub expired_tokens_cleanup_grace_period: Duration,
    /// Delete the expired tokens (`true`, our default) or only log how many there are
    /// (`false`, upstream's default).
    #[arg(long, env = "EXPIRED_TOKENS_CLEANUP_REPORT_AND_DELETE", default_value_t = true, action = clap::ArgAction::Set)]
    pub expired_tokens_cleanup_report_and_delete: bool,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub rate_limiting: RateLimitArgs,

    #[command(flatten)]
    pub quotas: QuotaArgs,

    #[command(flatten)]
    pub worker: WorkerArgs,

    /// Log format: `text` (default) or `json`. Levels come from RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    #[command(flatten)]
    pub observability: ObservabilityArgs,
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

    /// Most deliveries to one subscription in flight at once (all workers together). A hanging
    /// or slow endpoint holds at most this many slots; the others keep flowing. An endpoint
    /// that keeps up gets MAX_IN_FLIGHT_PER_FAST_SUBSCRIPTION instead.
    #[arg(long, env = "MAX_IN_FLIGHT_PER_SUBSCRIPTION", default_value_t = 8)]
    pub max_in_flight_per_subscription: u32,
    /// Cap of a subscription whose endpoint keeps up: its last MAX_IN_FLIGHT_PER_SUBSCRIPTION
    /// deliveries from this worker succeeded within 250 ms and none is running longer. One
    /// endpoint's rate is about its cap per (response time + outcome commit), so this is what
    /// lets one busy endpoint take thousands per second. Once its deliveries slow down it is
    /// back to MAX_IN_FLIGHT_PER_SUBSCRIPTION; the slots fast endpoints hold beyond that are
    /// kept under half of CONCURRENT. Set it to MAX_IN_FLIGHT_PER_SUBSCRIPTION to turn this off
    /// [default: CONCURRENT].
    #[arg(long, env = "MAX_IN_FLIGHT_PER_FAST_SUBSCRIPTION")]
    pub max_in_flight_per_fast_subscription: Option<u32>,
    /// Attempts with a retry count below this are high priority: first attempts and early
    /// retries go ahead of a backlog of later retries.
    #[arg(long, env = "HP_RETRY_CUTOFF", default_value_t = 2)]
    pub hp_retry_cutoff: i32,
    /// Delivery slots only high-priority attempts may use [default: CONCURRENT/4].
    #[arg(long, env = "CONCURRENT_HP_RESERVED")]
    pub concurrent_hp_reserved: Option<usize>,
    /// Delivery slots only retries may use, so they progress under a steady flow of fresh
    /// events [default: CONCURRENT/16].
    #[arg(long, env = "CONCURRENT_LP_RESERVED")]
    pub concurrent_lp_reserved: Option<usize>,
    /// Consecutive failed deliveries that open a subscription's circuit breaker: no request
    /// reaches it for a cool-down, then one probe decides (0 turns the breaker off). Attempts
    /// held by an open circuit are delayed, not failed, and keep their retry count.
    #[arg(long, env = "CIRCUIT_FAILURE_THRESHOLD", default_value_t = 5)]
    pub circuit_failure_threshold: u32,
    /// First cool-down of an open circuit; it doubles at each failed probe.
    #[arg(long, env = "CIRCUIT_COOLDOWN", default_value = "30s", value_parser = humantime::parse_duration)]
    pub circuit_cooldown: Duration,
    /// Longest cool-down of an open circuit.
    #[arg(long, env = "CIRCUIT_MAX_COOLDOWN", default_value = "1h", value_parser = humantime::parse_duration)]
    pub circuit_max_cooldown: Duration,
    /// Disable a subscription whose deliveries keep failing without a single success for this
    /// long; its pending attempts become dead letters and an `api.subscription.disabled`
    /// operational event is recorded. `off` never disables.
    #[arg(long, env = "SUBSCRIPTION_AUTO_DISABLE_AFTER", default_value = "5d", value_parser = parse_optional_duration)]
    pub subscription_auto_disable_after: OptionalDuration,
    /// URL that operational events (e.g. `api.subscription.disabled`) are POSTed to as JSON.
    #[arg(long, env = "OPERATIONAL_WEBHOOK_URL")]
    pub operational_webhook_url: Option<url::Url>,

    /// Longest time one DNS resolution of a target may take (at least 3ms); past it the attempt
    /// fails with E_DNS. Capped at 90 % of CONNECT_TIMEOUT.
    #[arg(long, env = "DNS_TIMEOUT", default_value = "5s", value_parser = parse_dns_timeout)]
    pub dns_timeout: Duration,
    /// How long a resolved target name is reused (`0s`: resolve on every new connection). The
    /// system resolver does not report record TTLs, so answers are kept this long.
    #[arg(long, env = "DNS_CACHE_MAX_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub dns_cache_max_ttl: Duration,
    /// How long "no such name" (or a forbidden address) is reused.
    #[arg(long, env = "DNS_NEGATIVE_CACHE_MAX_TTL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub dns_negative_cache_max_ttl: Duration,
    /// Address families deliveries connect to: ipv4-and-ipv6, ipv4-only, ipv6-only,
    /// ipv4-then-ipv6 or ipv6-then-ipv4.
    #[arg(long, env = "DNS_IP_STRATEGY", default_value = "ipv4-and-ipv6", value_parser = parse_ip_strategy)]
    pub dns_ip_strategy: hook0_worker::ssrf_resolver::IpStrategy,
    /// Let the system append its search domains to target names (by default a name is taken
    /// as fully qualified, so `api` never becomes `api.internal.example`).
    #[arg(long, env = "DNS_APPEND_SEARCH_DOMAINS", default_value_t = false, action = clap::ArgAction::Set)]
    pub dns_append_search_domains: bool,
    /// URL a monitor listens on: the worker POSTs `{"worker_name","worker_version"}` to it
    /// while its dispatch loop runs, so a silent worker can raise an alert.
    #[arg(long, env = "MONITORING_HEARTBEAT_URL")]
    pub monitoring_heartbeat_url: Option<url::Url>,
    /// Seconds between two heartbeats, at least.
    #[arg(long, env = "MONITORING_HEARTBEAT_MIN_PERIOD_IN_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub monitoring_heartbeat_min_period_in_s: u64,
}

fn parse_dns_timeout(value: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if timeout < Duration::from_millis(3) {
        return Err("DNS_TIMEOUT must be at least 3ms".into());
    }
    Ok(timeout)
}

fn parse_ip_strategy(value: &str) -> Result<hook0_worker::ssrf_resolver::IpStrategy, String> {
    hook0_worker::ssrf_resolver::IpStrategy::parse(value).ok_or_else(|| {
        format!(
            "`{value}` is not a strategy; use one of {}",
            hook0_worker::ssrf_resolver::IpStrategy::NAMES.join(", ")
        )
    })
}

/// Users, sessions, service tokens and mail.
#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// Ed25519 private key (64 hex digits) signing user sessions and service tokens. Unset:
    /// the key in DATA_DIR/biscuit_private_key is used, generated on first start. Set it when
    /// several API processes serve one database, so they accept each other's tokens.
    #[arg(long, env = "BISCUIT_PRIVATE_KEY", hide_env_values = true)]
    pub biscuit_private_key: Option<String>,
    /// Longest time the Biscuit authorizer may take on one request (503 past it).
    #[arg(long, env = "MAX_AUTHORIZATION_TIME", default_value = "30ms", value_parser = humantime::parse_duration)]
    pub max_authorization_time: Duration,
    /// Refuse new users (`POST /register` answers 410).
    #[arg(long, env = "DISABLE_REGISTRATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_registration: bool,
    /// Shortest password accepted, in characters (1 to 100).
    #[arg(long, env = "PASSWORD_MINIMUM_LENGTH", default_value_t = 12, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub password_minimum_length: u8,
    /// SMTP server for verification and password-reset mails: `smtp://host:port` (plain),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host` (TLS).
    /// Unset: no mail is sent; the first user to register is verified at once and the others
    /// with `hook0 user verify <email>`.
    #[arg(long, env = "SMTP_CONNECTION_URL", hide_env_values = true)]
    pub smtp_connection_url: Option<String>,
    /// Timeout of one SMTP exchange, in seconds.
    #[arg(long, env = "SMTP_TIMEOUT_IN_S", default_value_t = 5)]
    pub smtp_timeout_in_s: u64,
    /// Sender address of the mails (required with SMTP_CONNECTION_URL).
    #[arg(long, env = "EMAIL_SENDER_ADDRESS")]
    pub email_sender_address: Option<String>,
    /// Sender name of the mails.
    #[arg(long, env = "EMAIL_SENDER_NAME", default_value = "Hook0")]
    pub email_sender_name: String,
}

/// Upstream's API rate limits: global, per client IP, per token (a burst, then one request per
/// replenish period).
#[derive(Args, Debug, Clone)]
pub struct RateLimitArgs {
    /// Turn every API rate limit off.
    #[arg(long, env = "DISABLE_API_RATE_LIMITING", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_api_rate_limiting: bool,
    /// Turn the global limit off.
    #[arg(long, env = "DISABLE_API_RATE_LIMITING_GLOBAL", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_api_rate_limiting_global: bool,
    /// Turn the per-IP limit off.
    #[arg(long, env = "DISABLE_API_RATE_LIMITING_IP", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_api_rate_limiting_ip: bool,
    /// Turn the per-token limit off.
    #[arg(long, env = "DISABLE_API_RATE_LIMITING_TOKEN", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_api_rate_limiting_token: bool,
    #[arg(
        long,
        env = "API_RATE_LIMITING_GLOBAL_BURST_SIZE",
        default_value_t = 2000
    )]
    pub api_rate_limiting_global_burst_size: u32,
    /// Milliseconds to earn one more request, for all requests together.
    #[arg(
        long,
        env = "API_RATE_LIMITING_GLOBAL_REPLENISH_PERIOD_IN_MS",
        default_value_t = 1
    )]
    pub api_rate_limiting_global_replenish_period_in_ms: u64,
    /// Requests at once for one client IP.
    #[arg(long, env = "API_RATE_LIMITING_IP_BURST_SIZE", default_value_t = 200)]
    pub api_rate_limiting_ip_burst_size: u32,
    /// Milliseconds to earn one more request, for one client IP.
    #[arg(
        long,
        env = "API_RATE_LIMITING_IP_REPLENISH_PERIOD_IN_MS",
        default_value_t = 10
    )]
    pub api_rate_limiting_ip_replenish_period_in_ms: u64,
    /// Requests at once for one token (a service token and its attenuations count as one).
    #[arg(long, env = "API_RATE_LIMITING_TOKEN_BURST_SIZE", default_value_t = 20)]
    pub api_rate_limiting_token_burst_size: u32,
    /// Milliseconds to earn one more request, for one token.
    #[arg(
        long,
        env = "API_RATE_LIMITING_TOKEN_REPLENISH_PERIOD_IN_MS",
        default_value_t = 100
    )]
    pub api_rate_limiting_token_replenish_period_in_ms: u64,
    /// How often idle clients are forgotten by the limiters.
    #[arg(long, env = "API_RATE_LIMITING_HOUSEKEEPING_PERIOD", default_value = "5m", value_parser = humantime::parse_duration)]
    pub api_rate_limiting_housekeeping_period: Duration,
}

/// Upstream's quotas: off unless ENABLE_QUOTA_ENFORCEMENT; then a request past a limit answers
/// 429 with the limit's problem id (`TooManyEventsToday`, …) and changes nothing.
#[derive(Args, Debug, Clone)]
pub struct QuotaArgs {
    /// Enforce the QUOTA_GLOBAL_*_LIMIT values below (`GET /quotas` reports them).
    #[arg(long, env = "ENABLE_QUOTA_ENFORCEMENT", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_quota_enforcement: bool,
    /// Members of one organization.
    #[arg(
        long,
        env = "QUOTA_GLOBAL_MEMBERS_PER_ORGANIZATION_LIMIT",
        default_value_t = 1
    )]
    pub quota_global_members_per_organization_limit: u32,
    /// Live applications of one organization.
    #[arg(
        long,
        env = "QUOTA_GLOBAL_APPLICATIONS_PER_ORGANIZATION_LIMIT",
        default_value_t = 1
    )]
    pub quota_global_applications_per_organization_limit: u32,
    /// Events one application may send per UTC day (exact: a burst never overshoots it).
    #[arg(long, env = "QUOTA_GLOBAL_EVENTS_PER_DAY_LIMIT", default_value_t = 100)]
    pub quota_global_events_per_day_limit: u32,
    /// Days events are kept at most: caps EVENT_RETENTION_DAYS and each application's
    /// `retention_days`.
    #[arg(
        long,
        env = "QUOTA_GLOBAL_DAYS_OF_EVENTS_RETENTION_LIMIT",
        default_value_t = 7
    )]
    pub quota_global_days_of_events_retention_limit: u32,
    /// Live subscriptions of one application.
    #[arg(
        long,
        env = "QUOTA_GLOBAL_SUBSCRIPTIONS_PER_APPLICATION_LIMIT",
        default_value_t = 10
    )]
    pub quota_global_subscriptions_per_application_limit: u32,
    /// Active event types of one application.
    #[arg(
        long,
        env = "QUOTA_GLOBAL_EVENT_TYPES_PER_APPLICATION_LIMIT",
        default_value_t = 10
    )]
    pub quota_global_event_types_per_application_limit: u32,
}

impl QuotaArgs {
    pub fn quotas(&self) -> hook0_core::quota::Quotas {
        if !self.enable_quota_enforcement {
            return hook0_core::quota::Quotas::default();
        }
        hook0_core::quota::Quotas::enforced(hook0_core::quota::GlobalLimits {
            members_per_organization: self.quota_global_members_per_organization_limit,
            applications_per_organization: self.quota_global_applications_per_organization_limit,
            events_per_day: self.quota_global_events_per_day_limit,
            days_of_events_retention: self.quota_global_days_of_events_retention_limit,
            subscriptions_per_application: self.quota_global_subscriptions_per_application_limit,
            event_types_per_application: self.quota_global_event_types_per_application_limit,
        })
    }
}

/// A duration, or `off`.
#[derive(Clone, Copy, Debug)]
pub struct OptionalDuration(pub Option<Duration>);

fn parse_optional_duration(value: &str) -> Result<OptionalDuration, humantime::DurationError> {
    match value.trim() {
        "off" | "never" | "0" => Ok(OptionalDuration(None)),
        other => humantime::parse_duration(other).map(|d| OptionalDuration(Some(d))),
    }
}

/// Metrics, health checks and traces.
#[derive(Args, Debug, Clone)]
pub struct ObservabilityArgs {
    /// Serve Prometheus metrics at `GET /metrics` (on the API's address, outside /api/v1). On
    /// an address that is not loopback they are served only when METRICS_KEY is set.
    #[arg(long, env = "METRICS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics_enabled: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <this value>` or `?key=<this value>`.
    #[arg(long, env = "METRICS_KEY", hide_env_values = true)]
    pub metrics_key: Option<String>,
    /// Longest wait for the database in `/api/v1/health` (answering 503 past it) and for the
    /// queue gauges of `/metrics`.
    #[arg(long, env = "HEALTH_CHECK_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub health_check_timeout: Duration,
    /// Export traces over OTLP/HTTP (protobuf) to this collector URL, e.g.
    /// `http://127.0.0.1:4318` (`/v1/traces` is added when the URL has no path). Unset: no export.
    #[arg(long, env = "OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,
    /// `Authorization` header sent with exported traces, e.g. `Bearer <token>`.
    #[arg(long, env = "OTLP_AUTHORIZATION", hide_env_values = true)]
    pub otlp_authorization: Option<String>,
}
