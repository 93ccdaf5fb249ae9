//! `hook0 subscription create|list|get|update|delete|enable|disable`.

use clap::{Args, Subcommand};
use hook0_sdk::{Subscription, SubscriptionSpec, Target};
use serde_json::json;
use uuid::Uuid;

use super::{confirm, deleted, labels_text, pair};
use crate::client::{CommandResult, Context, Failure, Rendered};

#[derive(Subcommand, Debug, Clone)]
pub enum SubscriptionCommand {
    /// Create a subscription: events of its types carrying its labels go to its URL.
    ///
    /// Example: hook0 subscription create -u https://example.com/hook -e billing.invoice.paid -l tenant=acme
    ///
    /// Ordered: hook0 subscription create -u https://example.com/hook -e billing.invoice.paid -l tenant=acme --ordering-label invoice_id
    Create(Fields),
    /// List the application's subscriptions.
    ///
    /// Example: hook0 subscription list -o compact | cut -f1
    List,
    /// Show one subscription, with its signing secret.
    ///
    /// Example: hook0 subscription get 0190… -o json | jq -r .secret
    Get { id: Uuid },
    /// Change some fields of a subscription (the others are kept).
    ///
    /// Example: hook0 subscription update 0190… -u https://example.com/v2/hook
    Update {
        id: Uuid,
        #[command(flatten)]
        fields: Fields,
    },
    /// Delete a subscription (its pending deliveries are cancelled).
    ///
    /// Example: hook0 subscription delete 0190… -y
    Delete {
        id: Uuid,
        /// Do not ask for a confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Enable a subscription.
    ///
    /// Example: hook0 subscription enable 0190…
    Enable { id: Uuid },
    /// Disable a subscription (its pending deliveries are cancelled).
    ///
    /// Example: hook0 subscription disable 0190…
    Disable { id: Uuid },
}

#[derive(Args, Debug, Clone)]
pub struct Fields {
    /// The endpoint's URL.
    #[arg(short = 'u', long)]
    pub url: Option<String>,
    /// Event types, comma-separated.
    #[arg(short = 'e', long = "event-types", value_delimiter = ',')]
    pub event_types: Vec<String>,
    /// A label `key=value` (repeatable; events must carry all of them).
    #[arg(short = 'l', long = "label", value_parser = pair)]
    pub labels: Vec<(String, String)>,
    /// The HTTP method.
    #[arg(long)]
    pub method: Option<String>,
    /// A header `name=value` sent with every delivery (repeatable).
    #[arg(short = 'H', long = "header", value_parser = pair)]
    pub headers: Vec<(String, String)>,
    /// A description.
    #[arg(short = 'd', long)]
    pub description: Option<String>,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Deliver events one at a time per value of this label, in the order received (e.g.
    /// `invoice_id`: the events of one invoice never overtake one another).
    #[arg(long = "ordering-label", value_name = "LABEL")]
    pub ordering_label: Option<String>,
    /// With --ordering-label: when a key's delivery fails for good, `hold` the key until that
    /// dead letter is redelivered (default), or `continue` with its next event.
    #[arg(long = "on-dead-letter", value_parser = ["hold", "continue"])]
    pub on_dead_letter: Option<String>,
}

fn render(s: &Subscription) -> Rendered {
    Rendered::record(
        vec![
            ("subscription_id", s.subscription_id.to_string()),
            ("enabled", s.is_enabled.to_string()),
            ("target", format!("{} {}", s.target.method, s.target.url)),
            ("event_types", s.event_types.join(", ")),
            ("labels", labels_text(&s.labels)),
            ("description", s.description.clone().unwrap_or_default()),
            (
                "ordering",
                match &s.ordering_label {
                    Some(label) => format!(
                        "per {label}, {} past a dead letter",
                        s.ordering_on_dead_letter.as_deref().unwrap_or("hold")
                    ),
                    None => "off".into(),
                },
            ),
            ("secret", s.secret.clone()),
        ],
        json!(s),
    )
}

pub async fn run(ctx: &Context, command: SubscriptionCommand) -> CommandResult {
    let app = ctx.application_id;
    let fail = |e| ctx.fail(e);
    match command {
        SubscriptionCommand::Create(f) => {
            let (Some(url), false, false) =
                (f.url.clone(), f.event_types.is_empty(), f.labels.is_empty())
            else {
                return Err(Failure::new(
                    4,
                    "a subscription needs -u URL, -e EVENT_TYPES and at least one -l key=value",
                    Some("hook0 subscription create -u https://example.com/hook -e billing.invoice.paid -l tenant=acme"),
                ));
            };
            let mut target = Target::post(&url);
            if let Some(method) = f.method {
                target.method = method.to_uppercase();
            }
            target.headers = f.headers.into_iter().collect();
            let spec = SubscriptionSpec {
                application_id: app,
                is_enabled: !f.disabled,
                event_types: f.event_types,
                description: f.description,
                labels: f.labels.into_iter().collect(),
                metadata: Default::default(),
                target,
                ordering_label: f.ordering_label,
                ordering_on_dead_letter: f.on_dead_letter,
            };
            let created = ctx.client.create_subscription(&spec).await.map_err(fail)?;
            Ok(render(&created))
        }
        SubscriptionCommand::List => {
            let list = ctx.client.subscriptions(app).await.map_err(fail)?;
            Ok(Rendered {
                columns: vec!["SUBSCRIPTION ID", "ENABLED", "URL", "EVENT TYPES", "LABELS"],
                rows: list
                    .iter()
                    .map(|s| {
                        vec![
                            s.subscription_id.to_string(),
                            s.is_enabled.to_string(),
                            s.target.url.clone(),
                            s.event_types.join(","),
                            labels_text(&s.labels),
                        ]
                    })
                    .collect(),
                json: json!(list),
                record: false,
            })
        }
        SubscriptionCommand::Get { id } => {
            let found = ctx.client.subscription(app, id).await.map_err(fail)?;
            Ok(render(&found))
        }
        SubscriptionCommand::Update { id, fields: f } => {
            let current = ctx.client.subscription(app, id).await.map_err(fail)?;
            let mut spec = SubscriptionSpec::from(&current);
            if let Some(url) = f.url {
                spec.target.url = url;
            }
            if let Some(method) = f.method {
                spec.target.method = method.to_uppercase();
            }
            if !f.event_types.is_empty() {
                spec.event_types = f.event_types;
            }
            if !f.labels.is_empty() {
                spec.labels = f.labels.into_iter().collect();
            }
            if !f.headers.is_empty() {
                spec.target.headers = f.headers.into_iter().collect();
            }
            if f.description.is_some() {
                spec.description = f.description;
            }
            if f.disabled {
                spec.is_enabled = false;
            }
            if f.ordering_label.is_some() {
                spec.ordering_label = f.ordering_label;
            }
            if f.on_dead_letter.is_some() {
                spec.ordering_on_dead_letter = f.on_dead_letter;
            }
            let updated = ctx
                .client
                .update_subscription(id, &spec)
                .await
                .map_err(fail)?;
            Ok(render(&updated))
        }
        SubscriptionCommand::Delete { id, yes } => {
            confirm(
                &format!("Delete the subscription {id}? Its pending deliveries are cancelled."),
                yes,
            )?;
            ctx.client
                .delete_subscription(app, id)
                .await
                .map_err(fail)?;
            Ok(deleted("subscription", id.to_string()))
        }
        SubscriptionCommand::Enable { id } | SubscriptionCommand::Disable { id } => {
            let enable = matches!(command, SubscriptionCommand::Enable { .. });
            let changed = ctx
                .client
                .set_subscription_enabled(app, id, enable)
                .await
                .map_err(fail)?;
            Ok(render(&changed))
        }
    }
}
