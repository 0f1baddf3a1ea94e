//! The command line: `serve` (default), `migrate`, `api-key`, `user`, `webhooks`, `config check`,
//! `emulator`; each command runs from here (`main.rs` only parses, loads settings and exits).

pub mod api_key;
pub mod config_check;
pub mod user;
pub mod webhooks;

use clap::{Parser, Subcommand};

pub use api_key::ApiKeyCommand;
pub use user::UserCommand;

use crate::settings::Settings;
use crate::startup::Application;
use crate::store;

/// Where the configuration comes from, shown under `--help`.
const CONFIGURATION: &str = "\
Configuration, later layers winning:
  config/default.toml, then config/$APP_ENV.toml
  APP_ENV                  `local` (default: development secrets allowed, OSS emulator on) or `production`
  APP__SECTION__KEY        any setting, e.g. APP__SERVER__PORT=8081, APP__LOG__LEVEL=debug
  DATABASE_URL             sqlite://PATH (default sqlite://data/upload-signer.db) or postgres://...
  APP_CONFIG_DIR           the directory of the TOML files (default ./config)
  Secrets: APP__AUTH__KEYS__K1__SECRET, APP__UPLOAD_TOKEN__KEYS__T1__SECRET, APP__OSS__ACCESS_KEY_ID
  and APP__OSS__ACCESS_KEY_SECRET (each also as ..._FILE, a path to a file holding it).
`upload-signer config check` prints the result, secrets redacted.";

#[derive(Debug, Parser)]
#[command(
    name = "upload-signer",
    version,
    about = "Issues OSS upload credentials and hosts the upload callback",
    after_help = CONFIGURATION
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// API keys for backend teams (records API).
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Run one reconciliation pass: settle pending uploads whose credential expired.
    Reconcile,
    /// Print the OpenAPI contract (openapi.yaml) the server implements.
    Openapi,
    /// Built-in app-user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Webhook endpoints: list, disable, enable, replay (creating one shows a secret: use the API).
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
    /// Run the local OSS emulator alone (`[emulator]` settings and the OSS keys; `emulator.enabled`
    /// is not needed), for a service or client elsewhere.
    Emulator,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it with secrets redacted.
    Check,
}

/// Runs one command with the loaded settings.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => Application::build(settings).await?.run_until_stopped().await?,
        Command::Migrate => {
            store::open(&settings.database)?.migrate().await?;
            println!("migrations applied to {}", settings.database.redacted_url());
        }
        Command::ApiKey { command } => api_key::run(command, &settings).await?,
        Command::Reconcile => {
            let report = crate::reconcile::run_one_pass(settings).await?;
            println!("{}", serde_json::to_string(&report)?);
            // Non-zero so that a scheduler notices uploads left unexamined.
            anyhow::ensure!(
                report.errors == 0,
                "{} pending uploads could not be examined; see the log",
                report.errors
            );
        }
        Command::Webhooks { command } => webhooks::run(command, &settings).await?,
        Command::Openapi => print!("{}", crate::ops::OPENAPI_YAML),
        Command::User { command } => user::run(command, &settings).await?,
        Command::Emulator => {
            let emulator = crate::startup::bind_emulator(&settings)?;
            println!("OSS emulator at {}", emulator.endpoint());
            emulator.start()?.await?;
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            settings.auth_keys()?;
            // Builds the external issuers' keys too, so a bad PEM is caught here, not at start-up.
            crate::auth::Authenticator::from_settings(&settings)?;
            let (dir, env) = crate::settings::process_env();
            let (_, layers) = Settings::layers(&dir, &env)?;
            print!("{}", config_check::render(&settings, layers)?);
        }
    }
    Ok(())
}
