//! What a run costs PostgreSQL, per event: transactions and rows from `pg_stat_database` (of
//! the run's database), CPU from `/proc` (every process named `postgres` on this machine: run
//! the benchmark on a machine where nothing else uses PostgreSQL).

use sqlx::Connection;

/// Counters at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    transactions: i64,
    rows_fetched: i64,
    rows_returned: i64,
    cpu_seconds: f64,
}

/// The difference between two samples, divided by the events of the run.
#[derive(Clone, Copy, Debug)]
pub struct PerEvent {
    pub transactions: f64,
    pub rows_fetched: f64,
    pub rows_returned: f64,
    pub cpu_ms: f64,
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
        cpu_seconds: postgres_cpu_seconds(),
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
            cpu_ms: (self.cpu_seconds - before.cpu_seconds) * 1000.0 / n,
        }
    }
}

/// User + system CPU seconds of every `postgres` process alive now.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0.0;
    for entry in entries.flatten() {
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
        let used = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        ticks += used(11) + used(12);
    }
    ticks / 100.0
}
