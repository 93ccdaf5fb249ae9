//! `hook0 event send|list|get`, `hook0 replay` and `hook0 trigger`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hook0_sdk::{AttemptQuery, EventToSend};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{labels_text, pair};
use crate::client::{CommandResult, Context, Failure, Rendered};

#[derive(Subcommand, Debug, Clone)]
pub enum EventCommand {
    /// Send an event: it is stored, then delivered to every matching subscription.
    ///
    /// Example: hook0 event send billing.invoice.paid -l tenant=acme -d '{"invoice":"in_42"}'
    Send(SendArgs),
    /// List the newest events (without their payloads).
    ///
    /// Example: hook0 event list -o compact | cut -f1
    List,
    /// Show one event with its payload; --attempts lists its delivery attempts instead.
    ///
    /// Example: hook0 event get 0190a7c4-… --attempts
    Get {
        id: Uuid,
        #[arg(long)]
        attempts: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    /// The event type (`service.resource_type.verb`); it must exist.
    pub event_type: String,
    /// A label `key=value` (at least one; subscriptions match on them).
    #[arg(short = 'l', long = "label", value_parser = pair, required = true)]
    pub labels: Vec<(String, String)>,
    /// The payload (JSON by default); `-` reads standard input.
    #[arg(short = 'd', long = "data", conflicts_with = "file")]
    pub data: Option<String>,
    /// Read the payload from this file.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// The event's id (default: a new UUIDv7, so that a retried send is recognised).
    #[arg(long)]
    pub event_id: Option<Uuid>,
    /// `application/json`, `text/plain` or `application/octet-stream+base64`.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
}

fn payload(args: &SendArgs) -> Result<String, Failure> {
    let read_failed =
        |e: std::io::Error| Failure::new(1, format!("cannot read the payload: {e}"), None);
    match (&args.data, &args.file) {
        (Some(data), _) if data == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(read_failed)?;
            Ok(text)
        }
        (Some(data), _) => Ok(data.clone()),
        (None, Some(file)) => std::fs::read_to_string(file).map_err(read_failed),
        (None, None) => Ok("{}".to_owned()),
    }
}

pub async fn send(ctx: &Context, args: SendArgs) -> CommandResult {
    let payload = payload(&args)?;
    if args.content_type == "application/json" {
        serde_json::from_str::<Value>(&payload).map_err(|e| {
            Failure::new(
                4,
                format!("the payload is not valid JSON: {e}"),
                Some("fix it, or send it as text with --content-type text/plain"),
            )
        })?;
    }
    let event = EventToSend {
        event_id: args.event_id,
        event_type: args.event_type,
        payload,
        payload_content_type: args.content_type,
        labels: args.labels.into_iter().collect(),
        metadata: Default::default(),
        occurred_at: None,
    };
    let sent = ctx
        .client
        .send_event(ctx.application_id, &event)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(Rendered::record(
        vec![
            ("event_id", sent.event_id.to_string()),
            ("event_type", event.event_type.clone()),
            (
                "received_at",
                sent.received_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            ),
        ],
        json!(sent),
    ))
}

fn attempt_rows(attempts: &[Value]) -> Vec<Vec<String>> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    attempts
        .iter()
        .map(|a| {
            vec![
                text(&a["request_attempt_id"]),
                text(&a["event_id"]),
                text(&a["status"]["type"]).replace("inprogress", "in_progress"),
                a["http_response_status"]
                    .as_i64()
                    .map_or("-".into(), |s| s.to_string()),
                a["retry_count"].as_i64().unwrap_or(0).to_string(),
                text(&a["created_at"]),
            ]
        })
        .collect()
}

const ATTEMPT_COLUMNS: [&str; 6] = ["ATTEMPT", "EVENT", "STATUS", "HTTP", "RETRY", "CREATED"];

pub async fn run(ctx: &Context, command: EventCommand) -> CommandResult {
    let app = ctx.application_id;
    match command {
        EventCommand::Send(args) => send(ctx, args).await,
        EventCommand::List => {
            let events = ctx.client.events(app).await.map_err(|e| ctx.fail(e))?;
            Ok(Rendered {
                columns: vec!["EVENT ID", "TYPE", "RECEIVED", "LABELS"],
                rows: events
                    .iter()
                    .map(|e| {
                        vec![
                            e.event_id.to_string(),
                            e.event_type_name.clone(),
                            e.received_at.to_rfc3339(),
                            labels_text(&e.labels),
                        ]
                    })
                    .collect(),
                json: json!(events),
                record: false,
            })
        }
        EventCommand::Get {
            id,
            attempts: false,
        } => {
            let event = ctx.client.event(app, id).await.map_err(|e| ctx.fail(e))?;
            let payload = event
                .payload
                .as_deref()
                .and_then(|p| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.decode(p).ok()
                })
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            Ok(Rendered::record(
                vec![
                    ("event_id", event.event_id.to_string()),
                    ("event_type", event.event_type_name.clone()),
                    ("content_type", event.payload_content_type.clone()),
                    ("labels", labels_text(&event.labels)),
                    ("occurred_at", event.occurred_at.to_rfc3339()),
                    ("received_at", event.received_at.to_rfc3339()),
                    ("payload", payload),
                ],
                json!(event),
            ))
        }
        EventCommand::Get { id, attempts: true } => {
            let found = ctx
                .client
                .request_attempts(
                    app,
                    &AttemptQuery {
                        event_id: Some(id),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| ctx.fail(e))?;
            let json = json!(found);
            let list = json.as_array().cloned().unwrap_or_default();
            Ok(Rendered {
                columns: ATTEMPT_COLUMNS.to_vec(),
                rows: attempt_rows(&list),
                json,
                record: false,
            })
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// The event to deliver again to every subscription it matches now.
    pub event_id: Option<Uuid>,
    /// Replay the events of the attempts matching the filters below (needs --dry-run or
    /// --confirm).
    #[arg(long, conflicts_with = "event_id")]
    pub all: bool,
    /// Only attempts in this state: waiting, pending, in_progress, successful, failed,
    /// dead_letter.
    #[arg(long)]
    pub status: Option<String>,
    /// Only attempts created in this last period (e.g. 1h, 2d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only attempts created before this period ago.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub until: Option<std::time::Duration>,
    /// Only events of this type.
    #[arg(long)]
    pub event_type: Option<String>,
    /// Print what would be replayed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replay without asking.
    #[arg(long)]
    pub confirm: bool,
    /// The most events to replay.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `hook0 replay`: one event, or the events of a filtered set of attempts.
pub async fn replay(ctx: &Context, args: ReplayArgs) -> CommandResult {
    let app = ctx.application_id;
    if let Some(id) = args.event_id {
        ctx.client
            .replay_event(app, id)
            .await
            .map_err(|e| ctx.fail(e))?;
        return Ok(Rendered::record(
            vec![("replayed", id.to_string())],
            json!({ "replayed": [id] }),
        ));
    }
    if !args.all {
        return Err(Failure::new(
            4,
            "name an event to replay, or --all with filters",
            Some(
                "hook0 replay EVENT_ID, or hook0 replay --all --status failed --since 1h --dry-run",
            ),
        ));
    }
    if !args.dry_run && !args.confirm {
        return Err(Failure::new(
            4,
            "a bulk replay needs --dry-run (to see it) or --confirm (to do it)",
            None,
        ));
    }
    let now = chrono::Utc::now();
    let mut query = vec![("application_id", app.to_string())];
    if let Some(status) = &args.status {
        query.push(("status", status.clone()));
    }
    let ago = |d: std::time::Duration| {
        (now - chrono::Duration::from_std(d).unwrap_or_default()).to_rfc3339()
    };
    if let Some(since) = args.since {
        query.push(("min_created_at", ago(since)));
    }
    if let Some(until) = args.until {
        query.push(("max_created_at", ago(until)));
    }
    if let Some(event_type) = &args.event_type {
        query.push(("event_type", event_type.clone()));
    }
    let attempts = ctx
        .client
        .get_json("/request_attempts", &query)
        .await
        .map_err(|e| ctx.fail(e))?;
    let mut seen = BTreeSet::new();
    let events: Vec<Uuid> = attempts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["event_id"].as_str()?.parse().ok())
        .filter(|id| seen.insert(*id))
        .take(args.limit)
        .collect();
    if args.confirm && !args.dry_run {
        for id in &events {
            ctx.client
                .replay_event(app, *id)
                .await
                .map_err(|e| ctx.fail(e))?;
        }
    }
    let verb = if args.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    Ok(Rendered {
        columns: vec![if args.dry_run {
            "WOULD REPLAY"
        } else {
            "REPLAYED"
        }],
        rows: events.iter().map(|id| vec![id.to_string()]).collect(),
        json: json!({ "dry_run": args.dry_run, verb.replace(' ', "_"): events }),
        record: false,
    })
}

#[derive(Args, Debug, Clone)]
pub struct TriggerArgs {
    /// The event type; it must exist.
    pub event_type: String,
    /// A label `key=value` the subscriptions to reach match on.
    #[arg(short = 'l', long = "label", value_parser = pair, required = true)]
    pub labels: Vec<(String, String)>,
}

/// `hook0 trigger TYPE`: a sample event, to see a delivery without writing one. When the type
/// has a JSON Schema, the sample is an example that follows it.
pub async fn trigger(ctx: &Context, args: TriggerArgs) -> CommandResult {
    let types = ctx
        .client
        .event_types(ctx.application_id)
        .await
        .map_err(|e| ctx.fail(e))?;
    let schema = types
        .into_iter()
        .find(|t| t.event_type_name == args.event_type)
        .and_then(|t| t.schema);
    let sample = match schema {
        Some(schema) => example_of(&args.event_type, &schema)?,
        None => json!({
            "sample": true,
            "event_type": args.event_type,
            "triggered_at": chrono::Utc::now(),
            "note": "sent by `hook0 trigger`",
        }),
    };
    send(
        ctx,
        SendArgs {
            event_type: args.event_type,
            labels: args.labels,
            data: Some(sample.to_string()),
            file: None,
            event_id: None,
            content_type: "application/json".into(),
        },
    )
    .await
}

/// An example payload generated from `schema`, refused here (not by the server) when the
/// schema asks for what cannot be guessed, such as a `pattern`.
fn example_of(event_type: &str, schema: &Value) -> Result<Value, Failure> {
    let example = hook0_core::schema::example(schema);
    let violations = hook0_core::schema::compile(schema)
        .map(|compiled| compiled.violations(&example))
        .unwrap_or_default();
    match violations.first() {
        None => Ok(example),
        Some(v) => Err(Failure::new(
            4,
            format!(
                "the example made from {event_type}'s schema does not follow it at `{}`: {}",
                v.pointer, v.message
            ),
            Some("send a payload of your own: hook0 event send TYPE --data '{…}' -l key=value"),
        )),
    }
}
