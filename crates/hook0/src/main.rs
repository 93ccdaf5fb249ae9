//! The `hook0` binary: parses the configuration, opens the store, and runs the API, the delivery
//! worker, or both, until SIGINT/SIGTERM; then shuts them down gracefully.

mod admin;
mod cli;
mod client;
mod housekeeping;
mod keys;
mod telemetry;

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use hook0_core::quota::Quota;
use hook0_core::retry::RetryPolicy;
use hook0_core::signature::SignatureVersions;
use hook0_store::{Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use cli::{AuthArgs, Cli, Command, RateLimitArgs, ServeArgs, StoreArgs, WorkerArgs};

/// glibc's allocator was a tenth of the server's CPU under load (`perf`): many small,
/// short-lived allocations across threads, which mimalloc serves from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.is_client() {
        run_client(cli);
    }
    // Before the runtime: the OTLP exporter brings its own thread and blocking client.
    let _telemetry = match &cli.command {
        Command::Serve(args) | Command::Api(args) | Command::Worker(args) => {
            let traces = telemetry::TraceExport {
                endpoint: args.observability.otlp_traces_endpoint.clone(),
                authorization: args.observability.otlp_authorization.clone(),
            };
            telemetry::init(&args.log_format, &traces)?
        }
        _ => telemetry::init("text", &telemetry::TraceExport::default())?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => run(args, true, true).await,
            Command::Api(args) => run(args, true, false).await,
            Command::Worker(args) => run(args, false, true).await,
            Command::Migrate(args) => match &args.from {
                None => {
                    open_store(&args.store, true).await?;
                    tracing::info!("migrations applied");
                    Ok(())
                }
                Some(from) => copy_to_postgres(&args.store, from).await,
            },
            Command::User(args) => admin::user(args).await,
            _ => unreachable!("client commands run in run_client"),
        }
    })
}

/// A client command: no logs, its own exit codes.
fn run_client(cli: Cli) -> ! {
    use client::commands::*;
    let output = cli.client.output;
    let global = cli.client;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let result = runtime.block_on(async move {
        let context = || client::Context::resolve(&global);
        match cli.command {
            Command::Init(args) | Command::Login(args) => account::login(&global, args).await,
            Command::Logout => account::logout(&global),
            Command::Config(command) => settings::run(command),
            Command::Verify(args) => verify::run(args),
            Command::Completion { shell } => {
                use clap::CommandFactory;
                let mut command = Cli::command();
                clap_complete::generate(shell, &mut command, "hook0", &mut std::io::stdout());
                std::process::exit(0)
            }
            Command::Whoami => account::whoami(&context()?).await,
            Command::Event(command) => events::run(&context()?, command).await,
            Command::EventType(command) => event_types::run(&context()?, command).await,
            Command::Subscription(command) => subscriptions::run(&context()?, command).await,
            Command::Application(command) => applications::run(&context()?, command).await,
            Command::Replay(args) => events::replay(&context()?, args).await,
            Command::Trigger(args) => events::trigger(&context()?, args).await,
            Command::Listen(args) => match listen::run(&context()?, output, args).await {
                Ok(()) => std::process::exit(0),
                Err(failure) => Err(failure),
            },
            _ => unreachable!("server commands run in main"),
        }
    });
    client::finish(output, result)
}

pub(crate) async fn open_store(args: &StoreArgs, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    let url = args.database_url();
    let options = StoreOptions {
        max_connections: args.max_db_connections,
        auto_migrate: migrate,
        statement_timeout: args.db_statement_timeout.filter(|t| !t.is_zero()),
        lock_timeout: args.db_lock_timeout.filter(|t| !t.is_zero()),
        ..StoreOptions::default()
    };
    let store = hook0_store::open(&url, &options)
        .await
        .with_context(|| format!("cannot open the database at {}", redact_password(&url)))?;
    tracing::info!(backend = store.backend(), "database ready");
    Ok(store)
}

/// The URL with its password hidden, for messages (secrets never reach logs).
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// `hook0 migrate --from <sqlite>`: copies an embedded install into a new PostgreSQL database.
async fn copy_to_postgres(args: &StoreArgs, from: &std::path::Path) -> anyhow::Result<()> {
    let url = args.database_url.as_deref().filter(|u| u.starts_with("postgres")).context(
        "set DATABASE_URL to the new PostgreSQL database, e.g. DATABASE_URL=postgres://user@host/hook0",
    )?;
    let source = if from.is_dir() {
        from.join("hook0.db")
    } else {
        from.to_path_buf()
    };
    anyhow::ensure!(
        source.is_file(),
        "no SQLite database at {}",
        source.display()
    );
    let options = StoreOptions {
        max_connections: 2,
        ..StoreOptions::default()
    };
    let target = hook0_store::postgres::PostgresStore::open(url, &options).await?;
    println!("copying {} into PostgreSQL…", source.display());
    let copied = hook0_store::transfer::copy_sqlite_to_postgres(&source, target.pool(), |t| {
        println!("  {:<24} {:>10} rows", t.table, t.rows);
    })
    .await?;
    let total: u64 = copied.iter().map(|t| t.rows).sum();
    println!(
        "done: {total} rows in {} tables. Now start hook0 with this DATABASE_URL.",
        copied.len()
    );
    Ok(())
}

/// Who may name the client's address: `REVERSE_PROXY_IPS` (or upstream's alias
/// `CC_REVERSE_PROXY_IPS`) and `BEHIND_CLOUDFLARE`.
fn client_ip(args: &ServeArgs) -> anyhow::Result<hook0_api::ClientIpConfig> {
    let list = args
        .reverse_proxy_ips
        .clone()
        .or_else(|| std::env::var("CC_REVERSE_PROXY_IPS").ok())
        .unwrap_or_default();
    let trusted_proxies = hook0_api::ClientIpConfig::parse_proxies(&list)
        .map_err(|e| anyhow::anyhow!("REVERSE_PROXY_IPS: {e}"))?;
    Ok(hook0_api::ClientIpConfig {
        trusted_proxies,
        behind_cloudflare: args.behind_cloudflare,
    })
}

async fn run(args: ServeArgs, api: bool, worker: bool) -> anyhow::Result<()> {
    let store = open_store(&args.store, !args.store.no_auto_db_migration).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    // Bound first: the relay's URLs name the address, and a worker of this process hands
    // deliveries to them over in memory.
    let listener = match api {
        true => Some(
            tokio::net::TcpListener::bind((args.ip, args.port))
                .await
                .with_context(|| format!("cannot listen on {}:{}", args.ip, args.port))?,
        ),
        false => None,
    };
    let relay = match &listener {
        Some(listener) if !args.disable_relay => Some(relay_hub(&listener.local_addr()?, &args)),
        _ => None,
    };
    if worker {
        let mut config = worker_config(&args.worker)?;
        config.local_relay = relay
            .clone()
            .map(|hub| hook0_worker::SharedRelay(hub as Arc<dyn hook0_core::relay::LocalRelay>));
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tasks.spawn(async move {
            hook0_worker::run(store, config, shutdown).await?;
            Ok(())
        });
    }
    if api && args.old_events_cleanup_period_in_s > 0 {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        let period = std::time::Duration::from_secs(args.old_events_cleanup_period_in_s);
        // With quotas enforced, the retention quota caps the default retention.
        let days = match args.quotas.quotas().global(Quota::DaysOfEventsRetention) {
            Some(limit) => args.event_retention_days.min(limit),
            None => args.event_retention_days,
        };
        tasks.spawn(async move {
            housekeeping::purge_events(store, days, period, shutdown).await;
            Ok(())
        });
    }
    if api && !args.expired_tokens_cleanup_period.is_zero() {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        let period = args.expired_tokens_cleanup_period;
        let grace = args.expired_tokens_cleanup_grace_period;
        let delete = args.expired_tokens_cleanup_report_and_delete;
        tasks.spawn(async move {
            housekeeping::purge_tokens(store, grace, delete, period, shutdown).await;
            Ok(())
        });
    }
    if let Some(listener) = listener {
        let addr = listener.local_addr()?;
        let biscuit_key = keys::biscuit_key(
            args.auth.biscuit_private_key.as_deref(),
            &args.store.data_dir,
        )?;
        let config = hook0_api::ApiConfig {
            master_api_key: args.master_api_key,
            application_secret_compatibility: args.enable_application_secret_compatibility,
            app_url: args
                .app_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            health_check_key: args.health_check_key.clone(),
            security_headers: args.enable_security_headers,
            health_check_timeout: args.observability.health_check_timeout,
            metrics_enabled: metrics_enabled(&addr, &args),
            metrics_key: args.observability.metrics_key.clone(),
            biscuit_key,
            max_authorization_time: args.auth.max_authorization_time,
            registration_disabled: args.auth.disable_registration,
            password_minimum_length: args.auth.password_minimum_length.into(),
            mailer: mailer(&args.auth)?,
            rate_limiting: rate_limiting(&args.rate_limiting),
            cors_allowed_origins: args.cors_allowed_origins.clone(),
            client_ip: client_ip(&args)?,
            quotas: args.quotas.quotas(),
            connection_limits: hook0_api::ConnectionLimits {
                header_read_timeout: args.http_header_read_timeout,
                request_timeout: args.http_request_timeout,
                max_connections: args.max_connections.max(1),
                shutdown_grace: args.api_shutdown_grace,
            },
            ..Default::default()
        };
        announce(&addr, &args);
        let state = hook0_api::AppState {
            store: store.clone(),
            config: Arc::new(config),
        };
        let dashboard = if args.disable_serving_webapp {
            axum::Router::new()
        } else {
            // The pages' own calls skip the API's rate limits: one page makes several calls,
            // and the limits are for clients of the API, which the dashboard's users are not.
            let in_process = hook0_api::AppState {
                store: state.store.clone(),
                config: Arc::new(hook0_api::ApiConfig {
                    rate_limiting: hook0_api::RateLimiting::off(),
                    ..(*state.config).clone()
                }),
            };
            hook0_ui::router(
                hook0_api::router(in_process),
                hook0_ui::UiConfig {
                    app_url: state.config.app_url.clone(),
                    registration_open: !state.config.registration_disabled,
                    password_minimum_length: state.config.password_minimum_length,
                },
            )
        };
        let extra = match relay {
            Some(hub) => dashboard.merge(hook0_api::relay::router(hub, state.clone())),
            None => dashboard,
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            hook0_api::serve_with(
                listener,
                state,
                extra,
                async move { shutdown.cancelled().await },
            )
            .await?;
            Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        let result: anyhow::Result<()> = result.context("task panicked")?;
        if let Err(e) = result {
            shutdown.cancel();
            return Err(e);
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The SMTP sender, when SMTP_CONNECTION_URL is set.
fn mailer(args: &AuthArgs) -> anyhow::Result<Option<hook0_api::Mailer>> {
    let Some(url) = args.smtp_connection_url.as_deref() else {
        tracing::info!(
            "no SMTP_CONNECTION_URL: no mail is sent; the first user to register is verified at \
             once, others with `hook0 user verify <email>`"
        );
        return Ok(None);
    };
    let sender = args
        .email_sender_address
        .as_deref()
        .context("SMTP_CONNECTION_URL is set: set EMAIL_SENDER_ADDRESS too")?;
    let mailer = hook0_api::Mailer::new(
        url,
        sender,
        &args.email_sender_name,
        std::time::Duration::from_secs(args.smtp_timeout_in_s),
    )?;
    Ok(Some(mailer))
}

/// Upstream's three rate limits, each unless turned off.
fn rate_limiting(args: &RateLimitArgs) -> hook0_api::RateLimiting {
    use std::time::Duration;
    let limit = |off: bool, burst: u32, period_ms: u64| {
        (!off && !args.disable_api_rate_limiting).then_some(hook0_api::Limit {
            burst,
            replenish_period: Duration::from_millis(period_ms.max(1)),
        })
    };
    hook0_api::RateLimiting {
        global: limit(
            args.disable_api_rate_limiting_global,
            args.api_rate_limiting_global_burst_size,
            args.api_rate_limiting_global_replenish_period_in_ms,
        ),
        ip: limit(
            args.disable_api_rate_limiting_ip,
            args.api_rate_limiting_ip_burst_size,
            args.api_rate_limiting_ip_replenish_period_in_ms,
        ),
        token: limit(
            args.disable_api_rate_limiting_token,
            args.api_rate_limiting_token_burst_size,
            args.api_rate_limiting_token_replenish_period_in_ms,
        ),
        housekeeping_period: args.api_rate_limiting_housekeeping_period,
    }
}

/// Tells the operator where the API is and how to authenticate.
/// `/metrics` lists every tenant's application ids: on an address others can reach it is
/// served only behind METRICS_KEY.
fn metrics_enabled(addr: &std::net::SocketAddr, args: &ServeArgs) -> bool {
    let observability = &args.observability;
    if observability.metrics_enabled
        && observability.metrics_key.is_none()
        && !addr.ip().is_loopback()
    {
        tracing::error!(
            %addr,
            "GET /metrics is NOT served: it would show every tenant's application ids to anyone \
             who can reach {addr}. Set METRICS_KEY (then scrape with `Authorization: Bearer <key>`), \
             or METRICS_ENABLED=false to silence this"
        );
        return false;
    }
    observability.metrics_enabled
}

/// The relay of `hook0 listen`: open on a loopback bind, its URLs under APP_URL when set.
fn relay_hub(addr: &std::net::SocketAddr, args: &ServeArgs) -> Arc<hook0_api::relay::RelayHub> {
    let port = addr.port();
    let direct = if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{port}")
    } else {
        format!("http://{addr}")
    };
    let public = args
        .app_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| direct.clone());
    let mut config = hook0_api::relay::RelayConfig::new(&public);
    config.open = addr.ip().is_loopback();
    config.timeout = args.relay_timeout;
    config.requests_per_second_per_token = args.relay_requests_per_second;
    config.local_bases.extend([
        direct,
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
    ]);
    hook0_api::relay::RelayHub::new(config)
}

fn announce(addr: &std::net::SocketAddr, args: &ServeArgs) {
    // Printed, not logged: this is the first thing a new user reads.
    println!("Hook0 API listening on http://{addr}/api/v1");
    if !args.disable_serving_webapp {
        println!("Dashboard: open http://{addr}/ in a browser (sign up there, or log in)");
    }
    if !args.disable_relay {
        println!(
            "Local development: `hook0 listen` receives deliveries on your machine through ws://{addr}/relay/ws"
        );
    }
    match args.master_api_key {
        Some(_) => println!(
            "MASTER_API_KEY is set: authenticate with `Authorization: Bearer <MASTER_API_KEY>`."
        ),
        None => println!(
            "Create a user with POST /api/v1/register, then log in with POST /api/v1/auth/login \
             (without SMTP_CONNECTION_URL the first user is verified at once). For an admin key, \
             restart with e.g.:\n  MASTER_API_KEY={} hook0 serve",
            uuid::Uuid::new_v4()
        ),
    }
}

fn worker_config(args: &WorkerArgs) -> anyhow::Result<hook0_worker::WorkerConfig> {
    let mut retry = RetryPolicy {
        max_retries: args.max_retries,
        jitter_ratio: args.retry_jitter_ratio,
        jitter_max_spread: args.retry_jitter_max_spread,
        ..RetryPolicy::default()
    };
    if let Some(schedule) = &args.retry_schedule {
        retry.schedule = schedule
            .split(',')
            .map(|s| humantime::parse_duration(s.trim()))
            .collect::<Result<_, _>>()
            .context("RETRY_SCHEDULE must be a comma list of durations such as 1s,2s")?;
    }
    let signature_versions = SignatureVersions::parse(&args.enabled_signature_versions)
        .map_err(|e| anyhow::anyhow!("ENABLED_SIGNATURE_VERSIONS: {e}"))?;
    if args.disable_target_ip_check {
        tracing::warn!(
            "DISABLE_TARGET_IP_CHECK is on: deliveries may reach private and loopback addresses"
        );
    }
    Ok(hook0_worker::WorkerConfig {
        name: args.worker_name.clone(),
        concurrency: args.concurrent.max(1),
        connect_timeout: args.connect_timeout,
        timeout: args.timeout,
        lease: args
            .delivery_lease
            .max(args.timeout + std::time::Duration::from_secs(1)),
        max_response_body_bytes: args.max_response_body_bytes,
        signature_header_name: args.signature_header_name.clone(),
        signature_versions,
        retry,
        disable_target_ip_check: args.disable_target_ip_check,
        max_in_flight_per_subscription: args.max_in_flight_per_subscription,
        max_in_flight_per_fast_subscription: args.max_in_flight_per_fast_subscription,
        hp_retry_cutoff: args.hp_retry_cutoff,
        hp_reserved: args.concurrent_hp_reserved,
        lp_reserved: args.concurrent_lp_reserved,
        circuit: hook0_core::circuit::CircuitPolicy {
            failure_threshold: args.circuit_failure_threshold,
            cooldown: args.circuit_cooldown,
            max_cooldown: args.circuit_max_cooldown,
        },
        auto_disable_after: args.subscription_auto_disable_after.0,
        operational_webhook_url: args.operational_webhook_url.clone(),
        dns: hook0_worker::ssrf_resolver::DnsSettings {
            timeout: args.dns_timeout,
            cache_max_ttl: args.dns_cache_max_ttl,
            negative_cache_max_ttl: args.dns_negative_cache_max_ttl,
            ip_strategy: args.dns_ip_strategy,
            append_search_domains: args.dns_append_search_domains,
            check_ip: !args.disable_target_ip_check,
        },
        heartbeat: args
            .monitoring_heartbeat_url
            .clone()
            .map(|url| hook0_worker::Heartbeat {
                url,
                min_period: std::time::Duration::from_secs(
                    args.monitoring_heartbeat_min_period_in_s,
                ),
            }),
        ..hook0_worker::WorkerConfig::default()
    })
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: no new claims, finishing in-flight deliveries");
    shutdown.cancel();
}
