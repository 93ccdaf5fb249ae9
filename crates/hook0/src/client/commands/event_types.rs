//! `hook0 event-type create|list|delete`.

use clap::Subcommand;
use serde_json::json;

use super::{confirm, deleted};
use crate::client::{CommandResult, Context, Failure, Rendered};

#[derive(Subcommand, Debug, Clone)]
pub enum EventTypeCommand {
    /// Create an event type (or re-activate it).
    ///
    /// Example: hook0 event-type create billing.invoice.paid
    Create {
        /// `service.resource_type.verb`; or give -s, -r and -b.
        name: Option<String>,
        #[arg(short = 's', long)]
        service: Option<String>,
        #[arg(short = 'r', long)]
        resource: Option<String>,
        #[arg(short = 'b', long)]
        verb: Option<String>,
    },
    /// List the application's event types.
    ///
    /// Example: hook0 event-type list -o json
    List,
    /// Deactivate an event type: events of that type are refused afterwards.
    ///
    /// Example: hook0 event-type delete billing.invoice.paid -y
    Delete {
        name: String,
        /// Do not ask for a confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

pub async fn run(ctx: &Context, command: EventTypeCommand) -> CommandResult {
    let app = ctx.application_id;
    match command {
        EventTypeCommand::Create {
            name,
            service,
            resource,
            verb,
        } => {
            let name = match (name, service, resource, verb) {
                (Some(name), None, None, None) => name,
                (None, Some(s), Some(r), Some(b)) => format!("{s}.{r}.{b}"),
                _ => {
                    return Err(Failure::new(
                        4,
                        "give the event type as NAME (service.resource_type.verb) or with -s, -r and -b",
                        Some("hook0 event-type create billing.invoice.paid"),
                    ))
                }
            };
            let created = ctx
                .client
                .create_event_type(app, &name)
                .await
                .map_err(|e| ctx.fail(e))?;
            Ok(Rendered::record(
                vec![("event_type", created.event_type_name.clone())],
                json!(created),
            ))
        }
        EventTypeCommand::List => {
            let types = ctx.client.event_types(app).await.map_err(|e| ctx.fail(e))?;
            Ok(Rendered {
                columns: vec!["NAME", "SERVICE", "RESOURCE", "VERB"],
                rows: types
                    .iter()
                    .map(|t| {
                        vec![
                            t.event_type_name.clone(),
                            t.service_name.clone(),
                            t.resource_type_name.clone(),
                            t.verb_name.clone(),
                        ]
                    })
                    .collect(),
                json: json!(types),
                record: false,
            })
        }
        EventTypeCommand::Delete { name, yes } => {
            confirm(&format!("Deactivate the event type {name}?"), yes)?;
            ctx.client
                .delete_event_type(app, &name)
                .await
                .map_err(|e| ctx.fail(e))?;
            Ok(deleted("event_type", name))
        }
    }
}
