use clap::Parser;

use upload_signer::cli::{Cli, Command, ConfigCommand};
use upload_signer::settings::Settings;
use upload_signer::startup::Application;
use upload_signer::{store, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_process_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("upload-signer: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log, settings.env);
    match run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "stopped");
            eprintln!("upload-signer: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => Application::build(settings).await?.run_until_stopped().await?,
        Command::Migrate => {
            store::open(&settings.database)?.migrate().await?;
            println!("migrations applied to {}", settings.database.redacted_url());
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            settings.auth_keys()?;
            println!(
                "configuration is valid (APP_ENV={})\n{settings:#?}",
                settings.env.as_str()
            );
        }
    }
    Ok(())
}
