//! The `hook0` binary: parses the configuration, opens the store, and runs the API, the delivery
//! worker, or both, until SIGINT/SIGTERM; then shuts them down gracefully.

mod cli;

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use hook0_core::retry::RetryPolicy;
use hook0_core::signature::SignatureVersions;
use hook0_store::{Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, ServeArgs, StoreArgs, WorkerArgs};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => run(args, true, true).await,
            Command::Api(args) => run(args, true, false).await,
            Command::Worker(args) => run(args, false, true).await,
            Command::Migrate(args) => {
                init_logging("text");
                open_store(&args, true).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    })
}

fn init_logging(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(args: &StoreArgs, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    let url = args.database_url();
    let options = StoreOptions {
        max_connections: args.max_db_connections,
        auto_migrate: migrate,
    };
    let store = hook0_store::open(&url, &options)
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    tracing::info!(backend = store.backend(), "database ready");
    Ok(store)
}

async fn run(args: ServeArgs, api: bool, worker: bool) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let store = open_store(&args.store, !args.store.no_auto_db_migration).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    if worker {
        let config = worker_config(&args.worker)?;
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tasks.spawn(async move {
            hook0_worker::run(store, config, shutdown).await?;
            Ok(())
        });
    }
    if api {
        let listener = tokio::net::TcpListener::bind((args.ip, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.ip, args.port))?;
        let addr = listener.local_addr()?;
        let config = hook0_api::ApiConfig {
            master_api_key: args.master_api_key,
            application_secret_compatibility: args.enable_application_secret_compatibility,
            app_url: args
                .app_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            health_check_key: args.health_check_key.clone(),
            security_headers: args.enable_security_headers,
            ..Default::default()
        };
        announce(&addr, &args);
        let state = hook0_api::AppState {
            store: store.clone(),
            config: Arc::new(config),
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            hook0_api::serve(listener, state, async move { shutdown.cancelled().await }).await?;
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

/// Tells the operator where the API is and how to authenticate.
fn announce(addr: &std::net::SocketAddr, args: &ServeArgs) {
    // Printed, not logged: this is the first thing a new user reads.
    println!("Hook0 API listening on http://{addr}/api/v1");
    match args.master_api_key {
        Some(_) => println!("MASTER_API_KEY is set: authenticate with `Authorization: Bearer <MASTER_API_KEY>`."),
        None => println!(
            "MASTER_API_KEY is not set, so only application secrets authenticate. To create organizations \
             and applications, restart with a master key, e.g.:\n  MASTER_API_KEY={} hook0 serve",
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
