//! The command line: `serve` (default), `migrate`, `api-key`, `user`, `config check`.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "upload-signer",
    version,
    about = "Issues OSS upload credentials and hosts the upload callback"
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
    /// Create an account (even with registration turned off). The password is read from standard
    /// input, so it never shows in the process list or shell history.
    Create {
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account (a username, or an external user id `provider:sub`): every token of it
    /// is refused; its refresh tokens are revoked.
    Disable { username: String },
    /// Enable a disabled account again.
    Enable { username: String },
}
