//! `upload-signer user ...`: built-in app-user accounts.

use clap::Subcommand;

use crate::auth::{self, Accounts, AuthError, Authenticator};
use crate::settings::Settings;
use crate::store;

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

pub async fn run(command: UserCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = store::open(&settings.database)?;
    store.migrate().await?;
    let (username, disabled) = match &command {
        UserCommand::Create {
            username,
            password_stdin,
        } => {
            let password = secrecy::SecretString::from(read_password(username, *password_stdin)?);
            let authenticator = std::sync::Arc::new(Authenticator::from_settings(settings)?);
            let limits = crate::limits::Limits::new(&store);
            let accounts = Accounts::new(settings, store, authenticator, limits).await?;
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
    let user = auth::set_account_disabled(store.as_ref(), username, disabled)
        .await
        .map_err(|e| match e {
            AuthError::Store(store::StoreError::NotFound) => {
                anyhow::anyhow!("no user {username:?}")
            }
            other => anyhow::anyhow!("{other}"),
        })?;
    let state = if disabled { "disabled" } else { "enabled" };
    println!("user {} ({}) {state}", user.username, user.id);
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
