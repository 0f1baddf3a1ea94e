use clap::Parser;

use upload_signer::cli::{config_check, ApiKeyCommand, Cli, Command, ConfigCommand, UserCommand};
use upload_signer::records::api_keys;
use upload_signer::settings::Settings;
use upload_signer::startup::Application;
use upload_signer::{store, telemetry};

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
    match run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Once, on standard error (where the logs go too): not also as a log line.
        Err(err) => {
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
        Command::ApiKey { command } => {
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
        }
        Command::Reconcile => {
            let report = upload_signer::reconcile::run_one_pass(settings).await?;
            println!("{}", serde_json::to_string(&report)?);
            // Non-zero so that a scheduler notices uploads left unexamined.
            anyhow::ensure!(
                report.errors == 0,
                "{} pending uploads could not be examined; see the log",
                report.errors
            );
        }
        Command::Webhooks { command } => upload_signer::cli::webhooks::run(command, &settings).await?,
        Command::Openapi => print!("{}", upload_signer::ops::OPENAPI_YAML),
        Command::User { command } => {
            let store = store::open(&settings.database)?;
            store.migrate().await?;
            let (username, disabled) = match &command {
                UserCommand::Create {
                    username,
                    password_stdin,
                } => {
                    let password = secrecy::SecretString::from(read_password(username, *password_stdin)?);
                    let authenticator =
                        std::sync::Arc::new(upload_signer::auth::Authenticator::from_settings(&settings)?);
                    let limits = upload_signer::limits::Limits::new(&store);
                    let accounts =
                        upload_signer::auth::Accounts::new(&settings, store, authenticator, limits).await?;
                    let user = accounts
                        .create(username, password)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("user {} ({}) created", user.username, user.id);
                    return Ok(());
                }
                UserCommand::Disable { username } => (username, true),
                UserCommand::Enable { username } => (username, false),
            };
            let user = upload_signer::auth::set_account_disabled(store.as_ref(), username, disabled)
                .await
                .map_err(|e| match e {
                    upload_signer::auth::AuthError::Store(store::StoreError::NotFound) => {
                        anyhow::anyhow!("no user {username:?}")
                    }
                    other => anyhow::anyhow!("{other}"),
                })?;
            let state = if disabled { "disabled" } else { "enabled" };
            println!("user {} ({}) {state}", user.username, user.id);
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            settings.auth_keys()?;
            // Builds the external issuers' keys too, so a bad PEM is caught here, not at start-up.
            upload_signer::auth::Authenticator::from_settings(&settings)?;
            let (dir, env) = upload_signer::settings::process_env();
            let (_, layers) = Settings::layers(&dir, &env)?;
            print!("{}", config_check::render(&settings, layers)?);
        }
    }
    Ok(())
}

/// The new account's password: one line of standard input with `--password-stdin`, else asked
/// twice on the terminal without echo.
fn read_password(username: &str, from_stdin: bool) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if from_stdin {
        let mut password = String::new();
        std::io::stdin().read_line(&mut password)?;
        return Ok(password.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password on: pipe it in with --password-stdin");
    }
    let password = rpassword::prompt_password(format!("Password for {username}: "))?;
    if rpassword::prompt_password("Repeat it: ")? != password {
        anyhow::bail!("the passwords differ; nothing was created");
    }
    Ok(password)
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
