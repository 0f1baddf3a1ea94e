//! `upload-signer webhooks ...`: the operator's side of the management API, on the database.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::settings::Settings;
use crate::store;
use crate::webhooks::manage::{self, Selection};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List endpoints (never their secrets), one JSON object a line.
    List,
    /// Stop sending to an endpoint (its deliveries wait).
    Disable { endpoint_id: String },
    /// Send to an endpoint again (also one disabled for failing), resuming its deliveries.
    Enable { endpoint_id: String },
    /// Send one event, or every subscribed event of a time range, again with the same ids.
    Replay {
        endpoint_id: String,
        /// The event id (the `webhook-id` header).
        #[arg(long, conflicts_with_all = ["since", "until"], required_unless_present = "since")]
        event: Option<String>,
        /// Start of the range, RFC 3339.
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// End of the range (exclusive), RFC 3339; default now.
        #[arg(long)]
        until: Option<DateTime<Utc>>,
    },
}

pub async fn run(command: WebhooksCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = store::open(&settings.database)?;
    store.migrate().await?;
    match command {
        WebhooksCommand::List => {
            for endpoint in store.list_endpoints().await? {
                println!("{}", serde_json::to_string(&endpoint)?);
            }
        }
        WebhooksCommand::Disable { endpoint_id } => {
            manage::switch(&store, &endpoint_id, false, "from the command line").await?;
            println!("webhook endpoint {endpoint_id} disabled");
        }
        WebhooksCommand::Enable { endpoint_id } => {
            manage::switch(&store, &endpoint_id, true, "from the command line").await?;
            println!("webhook endpoint {endpoint_id} enabled");
        }
        WebhooksCommand::Replay {
            endpoint_id,
            event,
            since,
            until,
        } => {
            let selection = match (event, since) {
                (Some(event), _) => Selection::Event(event),
                (None, Some(since)) => Selection::Range {
                    since,
                    until: until.unwrap_or_else(Utc::now),
                },
                (None, None) => anyhow::bail!("give --event ID or --since TIME"),
            };
            let n = manage::replay(&store, &endpoint_id, selection).await?;
            println!("{n} events queued again for {endpoint_id}");
        }
    }
    Ok(())
}
