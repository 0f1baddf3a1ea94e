//! The command line: `serve` (default), `migrate`, `config check`.

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
