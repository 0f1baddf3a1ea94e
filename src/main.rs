use clap::Parser;

use upload_signer::cli::{self, Cli, Command};
use upload_signer::settings::Settings;
use upload_signer::telemetry;

// glibc's malloc was a fifth of the server's CPU per issued credential (many small strings per
// answer); mimalloc cut that path's CPU by ~14 % in interleaved benchmark runs. Built without its
// transparent huge pages (`no_thp` in Cargo.toml): a 2 MiB page stays resident while any of it is
// in use, and the server held 54-68 MB idle after the load benchmark instead of 37-39 MB, for no
// CPU measured in return.
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
