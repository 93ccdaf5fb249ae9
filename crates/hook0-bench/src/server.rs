//! The server under test: the `hook0` binary built beside this one, started on a fresh database
//! with a random port, or a running server given by URL. Reads its peak RSS and CPU time from
//! /proc.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use uuid::Uuid;

use crate::Args;

pub struct Server {
    pub api: String,
    child: Option<Child>,
    /// A separate `hook0 worker` (backlog runs only).
    worker: Option<Child>,
    /// How to start that worker: the binary and the server's environment.
    worker_command: Option<(std::path::PathBuf, Vec<(String, String)>)>,
    _data_dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database created for this run: `(admin URL, name)`, dropped by
    /// [`Server::stop`].
    database: Option<(String, String)>,
}

impl Server {
    pub fn external(api: String) -> Self {
        Self {
            api: api.trim_end_matches('/').to_string(),
            child: None,
            worker: None,
            worker_command: None,
            _data_dir: None,
            database: None,
        }
    }

    pub async fn spawn(args: &Args, master_key: Uuid) -> anyhow::Result<Self> {
        let exe = match &args.server_bin {
            Some(path) => path.clone(),
            None => locate_server_binary()?,
        };
        let data_dir = tempfile::tempdir()?;
        let mut command = Command::new(&exe);
        // A backlog run starts the API alone; the worker comes once every event is queued.
        command
            .arg(if args.backlog { "api" } else { "serve" })
            .env("HOOK0_DATA_DIR", data_dir.path())
            .env("PORT", "0")
            .env("MASTER_API_KEY", master_key.to_string())
            .env("DISABLE_TARGET_IP_CHECK", "true")
            // One token sends everything: upstream's per-token limit (20 + 10/s) would measure
            // the limiter, not the server.
            .env("DISABLE_API_RATE_LIMITING", "true")
            .env("RETRY_SCHEDULE", "1s")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped());
        let mut database = None;
        if args.backend == "postgres" {
            let (url, name) = create_postgres_database(&args.postgres_url).await?;
            command.env("DATABASE_URL", url);
            database = Some((args.postgres_url.clone(), name));
        }
        for pair in &args.server_env {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            command.env(name, value);
        }
        let worker_env: Vec<(String, String)> = command
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect();
        let mut child = command.spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let api = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("server exited before listening"))??;
            if let Some(url) = line.strip_prefix("Hook0 API listening on ") {
                break url.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            api,
            child: Some(child),
            worker: None,
            worker_command: Some((exe, worker_env)),
            _data_dir: Some(data_dir),
            database,
        })
    }

    /// The URL of the run's PostgreSQL database, when it has one.
    pub fn database_url(&self) -> Option<String> {
        let (admin, name) = self.database.as_ref()?;
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        Some(format!("{base}/{name}"))
    }

    /// Starts a `hook0 worker` on the server's database (backlog runs).
    pub fn start_worker(&mut self) -> anyhow::Result<()> {
        let (exe, env) = self
            .worker_command
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--backlog needs a spawned server"))?;
        let child = Command::new(exe)
            .arg("worker")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()?;
        self.worker = Some(child);
        Ok(())
    }

    fn proc_file(&self, name: &str) -> Option<String> {
        let pid = self.child.as_ref()?.id();
        std::fs::read_to_string(format!("/proc/{pid}/{name}")).ok()
    }

    /// Peak resident set size (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = self.proc_file("status")?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = self.proc_file("stat")?;
        let after_name = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }
}

impl Server {
    /// Stops the processes and drops the run's PostgreSQL database.
    pub async fn stop(mut self) {
        self.kill();
        if let Some((admin_url, name)) = self.database.take() {
            use sqlx::Connection;
            let dropped = async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
            };
            if let Err(error) = dropped.await {
                eprintln!("could not drop the benchmark database {name}: {error}");
            }
        }
    }

    fn kill(&mut self) {
        for child in [&mut self.child, &mut self.worker].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `hook0` binary built with this one: beside it, or one directory up when this runs as a
/// test (`target/debug/deps/…`).
fn locate_server_binary() -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    let candidates = [
        me.with_file_name("hook0"),
        me.parent()
            .and_then(|d| d.parent())
            .map(|d| d.join("hook0"))
            .unwrap_or_default(),
    ];
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "the hook0 binary was not found beside {}: build it first (cargo build --release)",
            me.display()
        )
    })
}

/// Creates a throwaway database for one run and returns its URL.
/// Creates a fresh database; returns its URL and its name.
async fn create_postgres_database(admin_url: &str) -> anyhow::Result<(String, String)> {
    use sqlx::Connection;
    let name = format!("hook0_bench_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok((format!("{base}/{name}"), name))
}
