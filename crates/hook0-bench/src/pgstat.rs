//! What a run costs PostgreSQL, per event: transactions and rows from `pg_stat_database` (of
//! the run's database), CPU from `/proc` (every process named `postgres` on this machine: run
//! the benchmark on a machine where nothing else uses PostgreSQL).
//!
//! Two CPU figures. `cpu_ms`: the processes alive at both samples (the server's connections,
//! the WAL writer, the checkpointer), as every figure in BENCHMARKS.md was measured. `all_cpu_ms`
//! adds what processes that ended in between used (autovacuum workers above all: the queue
//! table is vacuumed after 1 % of it changed), from the postmaster's count of its reaped
//! children; a process alive at the first sample that ends before the second is counted whole
//! there, so it can overstate by the little such processes used before the run.

use sqlx::Connection;

/// Counters at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    transactions: i64,
    rows_fetched: i64,
    rows_returned: i64,
    cpu: Cpu,
}

/// The difference between two samples, divided by the events of the run.
#[derive(Clone, Copy, Debug)]
pub struct PerEvent {
    pub transactions: f64,
    pub rows_fetched: f64,
    pub rows_returned: f64,
    pub cpu_ms: f64,
    pub all_cpu_ms: f64,
}

/// Samples the counters of `database_url`'s database. The statistics collector reports with a
/// short delay: `pg_stat_clear_snapshot` and a pause let the last transactions in.
pub async fn sample(database_url: &str) -> anyhow::Result<Sample> {
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .await?;
    let (transactions, rows_fetched, rows_returned): (i64, i64, i64) = sqlx::query_as(
        "SELECT xact_commit + xact_rollback, tup_fetched, tup_returned FROM pg_stat_database
         WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(Sample {
        transactions,
        rows_fetched,
        rows_returned,
        cpu: postgres_cpu(),
    })
}

impl Sample {
    pub fn per_event(&self, before: &Sample, events: usize) -> PerEvent {
        let n = events.max(1) as f64;
        PerEvent {
            // The sampling connection's own transactions are left in: two per sample.
            transactions: (self.transactions - before.transactions) as f64 / n,
            rows_fetched: (self.rows_fetched - before.rows_fetched) as f64 / n,
            rows_returned: (self.rows_returned - before.rows_returned) as f64 / n,
            cpu_ms: (self.cpu.live - before.cpu.live) * 1000.0 / n,
            all_cpu_ms: (self.cpu.live + self.cpu.reaped - before.cpu.live - before.cpu.reaped)
                * 1000.0
                / n,
        }
    }
}

/// CPU seconds (user + system) of PostgreSQL's processes.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    /// Of every `postgres` process alive now.
    live: f64,
    /// Of the children the postmasters (a `postgres` process whose parent is not one) reaped.
    reaped: f64,
}

/// What `/proc` says of every `postgres` process now.
fn postgres_cpu() -> Cpu {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Cpu::default();
    };
    // pid → (parent, own ticks, reaped children's ticks)
    let mut processes: std::collections::HashMap<u32, (u32, f64, f64)> = Default::default();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(stat) = std::fs::read_to_string(entry.path().join("stat")).ok() else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "postgres" {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let number = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        processes.insert(
            pid,
            (
                number(1) as u32,
                number(11) + number(12),
                number(13) + number(14),
            ),
        );
    }
    let live: f64 = processes.values().map(|(_, own, _)| own).sum();
    let reaped: f64 = processes
        .values()
        .filter(|(parent, _, _)| !processes.contains_key(parent))
        .map(|(_, _, reaped)| reaped)
        .sum();
    Cpu {
        live: live / 100.0,
        reaped: reaped / 100.0,
    }
}
