//! Turning raw timings into the figures a run prints: a human table and one JSON line.

use std::time::Duration;

use serde_json::json;

use crate::receiver::Receiver;
use crate::{Args, Sent};

pub struct Report {
    pub line: serde_json::Value,
    pub missing: usize,
    pub duplicates: usize,
    /// With `--ordered-keys`: deliveries that overtook an earlier event of their key.
    pub out_of_order: Option<usize>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        args: &Args,
        sent: &Sent,
        receiver: &Receiver,
        expected: usize,
        ingest_elapsed: Duration,
        delivery_elapsed: Duration,
        peak_rss_mib: Option<f64>,
        cpu_seconds: Option<f64>,
        postgres: Option<crate::pgstat::PerEvent>,
    ) -> Self {
        let mut ingest = sent.ingest_latencies.clone();
        ingest.sort();
        let mut delivery = receiver.delivery_latencies(&sent.started);
        delivery.sort();
        let delivered = delivery.len();
        let missing = expected.saturating_sub(delivered);
        let duplicates = receiver.duplicates();
        let out_of_order = (args.ordered_keys > 0).then(|| {
            crate::order::violations(&sent.ingested, &receiver.arrivals(), args.ordered_keys)
        });
        let ingested = args.events - sent.errors;
        let line = json!({
            "backend": if args.api.is_some() { "external" } else { args.backend.as_str() },
            "events": args.events, "concurrency": args.concurrency, "fanout": args.fanout,
            "hanging_subscriptions": args.hanging_subscriptions,
            "payload_size": args.payload_size, "rate": args.rate, "warmup": args.warmup,
            "ingested": ingested, "ingest_errors": sent.errors,
            "ingest_events_per_s": ingested as f64 / ingest_elapsed.as_secs_f64(),
            "deliveries": delivered,
            "deliveries_per_s": delivered as f64 / delivery_elapsed.as_secs_f64().max(1e-9),
            "ingest_ms": { "p50": percentile(&ingest, 50.0), "p99": percentile(&ingest, 99.0) },
            "delivery_latency_ms": {
                "p50": percentile(&delivery, 50.0), "p90": percentile(&delivery, 90.0),
                "p99": percentile(&delivery, 99.0), "max": percentile(&delivery, 100.0),
            },
            "duplicates": duplicates, "missing": missing, "out_of_order": out_of_order,
            "server_peak_rss_mib": peak_rss_mib, "server_cpu_seconds": cpu_seconds,
            "server_cpu_ms_per_event": cpu_seconds.map(|s| s * 1000.0 / args.events.max(1) as f64),
            "postgres_per_event": postgres.map(|p| json!({
                "transactions": p.transactions, "rows_fetched": p.rows_fetched,
                "rows_returned": p.rows_returned, "cpu_ms": p.cpu_ms,
                "all_cpu_ms": p.all_cpu_ms,
            })),
        });
        Self {
            line,
            missing,
            duplicates,
            out_of_order,
        }
    }

    pub fn print(&self) {
        let l = &self.line;
        let f = |v: &serde_json::Value| v.as_f64().map_or("-".into(), |x| format!("{x:.1}"));
        let f2 = |v: &serde_json::Value| v.as_f64().map_or("-".into(), |x| format!("{x:.2}"));
        println!(
            "ingested            {} events ({} errors)",
            l["ingested"], l["ingest_errors"]
        );
        println!(
            "ingest rate         {} events/s",
            f(&l["ingest_events_per_s"])
        );
        println!(
            "delivery rate       {} deliveries/s",
            f(&l["deliveries_per_s"])
        );
        println!(
            "ingest latency      p50 {} ms, p99 {} ms",
            f(&l["ingest_ms"]["p50"]),
            f(&l["ingest_ms"]["p99"])
        );
        let d = &l["delivery_latency_ms"];
        println!(
            "ingest→delivery     p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
            f(&d["p50"]),
            f(&d["p90"]),
            f(&d["p99"]),
            f(&d["max"])
        );
        println!("duplicates          {}", l["duplicates"]);
        println!("missing             {}", l["missing"]);
        if !l["out_of_order"].is_null() {
            println!("out of order        {}", l["out_of_order"]);
        }
        println!("server peak RSS     {} MiB", f(&l["server_peak_rss_mib"]));
        println!(
            "server CPU          {} s ({} ms per event)",
            f(&l["server_cpu_seconds"]),
            f2(&l["server_cpu_ms_per_event"])
        );
        let pg = &l["postgres_per_event"];
        if !pg.is_null() {
            println!(
                "PostgreSQL / event  {} transactions, {} rows fetched, {} rows returned, {} ms CPU \
                 ({} ms with autovacuum and the processes that ended)",
                f(&pg["transactions"]),
                f(&pg["rows_fetched"]),
                f(&pg["rows_returned"]),
                f2(&pg["cpu_ms"]),
                f2(&pg["all_cpu_ms"])
            );
        }
        println!("{l}");
    }
}
