use clap::Parser;

use upload_signer::cli::{self, Cli, Command};
use upload_signer::settings::Settings;
use upload_signer::telemetry;

// glibc's malloc was a fifth of the server's CPU per issued credential (many small strings per
// answer); mimalloc cut that path's CPU by ~14 % in interleaved benchmark runs, at ~50 MB peak RSS
// instead of ~20 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    match cli::run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Once, on standard error (where the logs go too): not also as a log line.
        Err(err) => {
            eprintln!("upload-signer: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
