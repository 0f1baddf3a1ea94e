//! The command line: `serve` (default), `migrate`, `api-key`, `user`, `webhooks`, `config check`.

pub mod config_check;
pub mod webhooks;

use clap::{Parser, Subcommand};

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

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (even with registration turned off). The password is asked for on the
    /// terminal, or read from standard input: never an argument, which the process list and shell
    /// history would show.
    Create {
        username: String,
        /// Read the password from standard input (one line) instead of asking on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account (a username, or an external user id `provider:sub`): every token of it
    /// is refused; its refresh tokens are revoked.
    Disable { username: String },
    /// Enable a disabled account again.
    Enable { username: String },
}
