//! `upload-signer api-key ...`: backend teams' keys for the records API.

use clap::Subcommand;

use crate::auth::api_keys;
use crate::settings::Settings;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        /// Who the key is for, e.g. `analytics`.
        #[arg(long)]
        name: String,
        /// `uploads:read` or `uploads:admin`; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

pub async fn run(command: ApiKeyCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = store::open(&settings.database)?;
    store.migrate().await?;
    match command {
        ApiKeyCommand::Create { name, scopes } => {
            let (record, key) = api_keys::generate(&name, &scopes).map_err(anyhow::Error::msg)?;
            store.insert_api_key(&record).await?;
            println!("{key}");
            eprintln!(
                "API key {} ({}) created; it is shown only this once.",
                record.id, record.name
            );
        }
        ApiKeyCommand::List => {
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
                    .unwrap_or_else(|| "-".into())
            };
            let mut rows =
                vec![["id", "name", "scopes", "created", "last used", "revoked"].map(String::from)];
            for k in store.list_api_keys().await? {
                rows.push([
                    k.id,
                    k.name,
                    k.scopes.join(","),
                    time(Some(k.created_at)),
                    time(k.last_used_at),
                    time(k.revoked_at),
                ]);
            }
            print!("{}", columns(&rows));
        }
        ApiKeyCommand::Revoke { id } => {
            store
                .revoke_api_key(&id, chrono::Utc::now())
                .await
                .map_err(|e| match e {
                    store::StoreError::NotFound => anyhow::anyhow!("no active API key {id}"),
                    other => other.into(),
                })?;
            println!("API key {id} revoked");
        }
    }
    Ok(())
}

/// Rows as left-aligned columns, each as wide as its longest cell.
fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
