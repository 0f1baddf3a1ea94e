//! Limits on password logins and self-service registration (rules in `crate::limits`).
//!
//! Logins: a (username, client address) pair gets a few free failures and then waits longer and
//! longer between attempts; that is all a single stranger can do to an account, so the owner,
//! from another address, still logs in. Above that, ceilings per username (a guess spread over
//! many addresses) and per address (one address spraying many usernames).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::limits::{Backoff, Gcra, Limits, Rule};
use crate::settings::Settings;

use super::AuthError;

const PAIR: &str = "login_pair";
const ACCOUNT: &str = "login_account";
const ADDRESS: &str = "login_address";
const REGISTER_ADDRESS: &str = "register_address";
const REGISTER_TOTAL: &str = "register_total";

pub struct AuthLimits {
    limits: Arc<Limits>,
    pair: Backoff,
    account: Gcra,
    address: Option<Gcra>,
    register_address: Option<Gcra>,
    register_total: Option<Gcra>,
}

/// One login attempt's counts, to settle once the password is checked.
pub struct LoginAttempt<'a> {
    limits: &'a AuthLimits,
    pair: String,
    account: String,
    address: String,
}

impl AuthLimits {
    pub fn new(settings: &Settings, limits: Arc<Limits>) -> AuthLimits {
        let login = &settings.auth.login_limit;
        let window = Duration::from_secs(login.window_secs);
        let register = &settings.auth.register_limit;
        AuthLimits {
            limits,
            pair: Backoff::new(
                login.free_failures,
                Duration::from_secs(login.max_backoff_secs),
                window,
            ),
            // Validated at load: at least 1.
            account: Gcra::per(login.max_failures_per_account.max(1), window).expect("a positive limit"),
            address: Gcra::per(login.max_failures_per_address, window),
            register_address: Gcra::per(register.per_address_per_hour, Duration::from_secs(3600)),
            register_total: Gcra::per(register.total_per_minute, Duration::from_secs(60)),
        }
    }

    /// Counts a login attempt as a failure before the password is checked (so parallel guesses
    /// cannot all pass); [`LoginAttempt::succeeded`] or [`LoginAttempt::not_counted`] settle it.
    /// `account` is the normalised username.
    pub async fn begin_login(&self, account: &str, address: IpAddr) -> Result<LoginAttempt<'_>, AuthError> {
        let attempt = LoginAttempt {
            limits: self,
            pair: format!("{account} {address}"),
            account: account.to_string(),
            address: address.to_string(),
        };
        let l = &self.limits;
        // The pair first: a guesser who is already waiting spends nothing of the shared ceilings.
        l.take(PAIR, &attempt.pair, &self.pair)
            .await
            .map_err(AuthError::TooManyAttempts)?;
        if let Err(wait) = l.take(ACCOUNT, &attempt.account, &self.account).await {
            l.give_back(PAIR, &attempt.pair, &self.pair).await;
            return Err(AuthError::TooManyAttempts(wait));
        }
        if let Some(address_rule) = &self.address {
            if let Err(wait) = l.take(ADDRESS, &attempt.address, address_rule).await {
                l.give_back(PAIR, &attempt.pair, &self.pair).await;
                l.give_back(ACCOUNT, &attempt.account, &self.account).await;
                return Err(AuthError::TooManyAttempts(wait));
            }
        }
        Ok(attempt)
    }

    /// Counts a registration from `address`, before any password is hashed.
    pub async fn begin_registration(&self, address: IpAddr) -> Result<(), AuthError> {
        let address = address.to_string();
        if let Some(rule) = &self.register_address {
            self.limits
                .take(REGISTER_ADDRESS, &address, rule)
                .await
                .map_err(AuthError::TooManyRegistrations)?;
        }
        if let Some(rule) = &self.register_total {
            if let Err(wait) = self.limits.take(REGISTER_TOTAL, "", rule).await {
                if let Some(per_address) = &self.register_address {
                    self.limits
                        .give_back(REGISTER_ADDRESS, &address, per_address)
                        .await;
                }
                return Err(AuthError::TooManyRegistrations(wait));
            }
        }
        Ok(())
    }
}

impl LoginAttempt<'_> {
    /// The password was right: the pair starts afresh, and this attempt is taken back from the
    /// ceilings (earlier failures stay: one good password must not reset a spray).
    pub async fn succeeded(self) {
        self.limits.limits.forget(PAIR, &self.pair).await;
        self.give_back_ceilings().await;
    }

    /// The password was never checked (the server was busy): nothing counts.
    pub async fn not_counted(self) {
        let l = &self.limits.limits;
        l.give_back(PAIR, &self.pair, &self.limits.pair).await;
        self.give_back_ceilings().await;
    }

    async fn give_back_ceilings(&self) {
        let l = &self.limits.limits;
        l.give_back(ACCOUNT, &self.account, &self.limits.account).await;
        if let Some(rule) = &self.limits.address {
            l.give_back(ADDRESS, &self.address, rule as &dyn Rule).await;
        }
    }
}
