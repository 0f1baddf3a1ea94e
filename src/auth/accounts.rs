//! Built-in accounts: registration, password login, refresh-token rotation and logout.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::limits::AuthLimits;
use super::passwords::{check_new_password, PasswordHasher};
use super::usernames::{normalise, Username, MAX_LEN};
use super::{refresh, AuthError, Authenticator};
use crate::limits::Limits;
use crate::settings::Settings;
use crate::store::{DynStore, RefreshToken, Store, StoreError, User};

/// What a successful login or refresh hands the client.
#[derive(Debug)]
pub struct TokenPair {
    pub user_id: String,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
}

pub struct Accounts {
    store: DynStore,
    authenticator: Arc<Authenticator>,
    hasher: PasswordHasher,
    limits: AuthLimits,
    allow_registration: bool,
    refresh_ttl: Duration,
}

impl Accounts {
    pub async fn new(
        settings: &Settings,
        store: DynStore,
        authenticator: Arc<Authenticator>,
        limits: Arc<Limits>,
    ) -> anyhow::Result<Self> {
        authenticator.disabled.follow(store.clone());
        let hashing = &settings.auth.hashing;
        Ok(Accounts {
            store,
            authenticator,
            hasher: PasswordHasher::new(hashing.concurrency(), hashing.queue).await?,
            limits: AuthLimits::new(settings, limits),
            allow_registration: settings.auth.allow_registration,
            refresh_ttl: Duration::seconds(settings.auth.refresh_ttl_secs as i64),
        })
    }

    /// Self-service sign-up from `address`: checked, then counted against the registration
    /// limits, and only then hashed.
    pub async fn register(
        &self,
        username: &str,
        password: SecretString,
        address: IpAddr,
    ) -> Result<User, AuthError> {
        if !self.allow_registration {
            return Err(AuthError::RegistrationDisabled);
        }
        let username = Username::parse(username)?;
        check_new_password(password.expose_secret(), &username)?;
        self.limits.begin_registration(address).await?;
        self.insert_user(username, password).await
    }

    /// Creates an account whatever `auth.allow_registration` says, without limits (operators:
    /// `user create`).
    pub async fn create(&self, username: &str, password: SecretString) -> Result<User, AuthError> {
        let username = Username::parse(username)?;
        check_new_password(password.expose_secret(), &username)?;
        self.insert_user(username, password).await
    }

    async fn insert_user(&self, username: Username, password: SecretString) -> Result<User, AuthError> {
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.as_str().to_string(),
            password_hash: self.hasher.hash(password).await?,
            disabled: false,
            created_at: Utc::now(),
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Password login. Unknown usernames are verified against a dummy hash so that the answer and
    /// its timing are the same as for a wrong password.
    pub async fn login(
        &self,
        username: &str,
        password: SecretString,
        address: IpAddr,
    ) -> Result<TokenPair, AuthError> {
        // Bounded: an over-long name cannot exist, and must not bloat the limits' keys.
        let account_key: String = normalise(username).chars().take(MAX_LEN + 1).collect();
        let attempt = self.limits.begin_login(&account_key, address).await?;
        let user = match Username::parse(username) {
            Ok(name) => self.store.find_user_by_username(name.as_str()).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let matched = match self.hasher.verify(password, hash).await {
            Ok(matched) => matched,
            Err(err) => {
                attempt.not_counted().await;
                return Err(err);
            }
        };
        let user = match user {
            Some(user) if matched => user,
            _ => return Err(AuthError::InvalidCredentials),
        };
        attempt.succeeded().await;
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let family = uuid::Uuid::new_v4().to_string();
        self.issue(&user.id, &family, Utc::now()).await
    }

    /// Rotates a refresh token. A token that was already used means someone else holds a copy:
    /// the whole family is revoked, and both the thief and the user must log in again.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, AuthError> {
        let now = Utc::now();
        let stored = self
            .store
            .find_refresh_token(&refresh::hash(token))
            .await?
            .ok_or(AuthError::InvalidRefreshToken("unknown token"))?;
        if stored.revoked_at.is_some() {
            return Err(AuthError::InvalidRefreshToken("token revoked"));
        }
        if stored.used_at.is_some() {
            return Err(self.reuse_detected(&stored, now).await);
        }
        if stored.expires_at <= now {
            return Err(AuthError::RefreshTokenExpired);
        }
        let user = match self.store.get_user(&stored.user_id).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(AuthError::InvalidRefreshToken("account gone")),
            Err(e) => return Err(e.into()),
        };
        if user.disabled {
            self.store.revoke_all_refresh_tokens(&user.id, now).await?;
            return Err(AuthError::AccountDisabled);
        }
        if !self
            .store
            .mark_refresh_token_used(&stored.token_hash, now)
            .await?
        {
            // Lost a race with another refresh of the same token: that is reuse too.
            return Err(self.reuse_detected(&stored, now).await);
        }
        self.issue(&user.id, &stored.family_id, now).await
    }

    async fn reuse_detected(&self, stored: &RefreshToken, now: DateTime<Utc>) -> AuthError {
        tracing::warn!(
            user_id = %stored.user_id,
            family_id = %stored.family_id,
            "refresh token reused; revoking its family"
        );
        match self.store.revoke_refresh_family(&stored.family_id, now).await {
            Ok(_) => AuthError::RefreshTokenReused,
            Err(e) => e.into(),
        }
    }

    /// Revokes the token's family (this login), or every token of its user with `everywhere`.
    /// Logging out twice is fine; an unknown token is refused.
    pub async fn logout(&self, token: &str, everywhere: bool) -> Result<(), AuthError> {
        let now = Utc::now();
        let stored = self
            .store
            .find_refresh_token(&refresh::hash(token))
            .await?
            .ok_or(AuthError::InvalidRefreshToken("unknown token"))?;
        if everywhere {
            self.store.revoke_all_refresh_tokens(&stored.user_id, now).await?;
        } else {
            self.store.revoke_refresh_family(&stored.family_id, now).await?;
        }
        Ok(())
    }

    async fn issue(
        &self,
        user_id: &str,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let (refresh_token, token_hash) = refresh::generate();
        let record = RefreshToken {
            token_hash,
            family_id: family_id.to_string(),
            user_id: user_id.to_string(),
            issued_at: now,
            expires_at: now + self.refresh_ttl,
            used_at: None,
            revoked_at: None,
        };
        self.store.insert_refresh_token(&record).await?;
        let (access_token, access_expires_at) = self.authenticator.access_tokens.issue(user_id, now)?;
        Ok(TokenPair {
            user_id: user_id.to_string(),
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at: record.expires_at,
        })
    }
}

/// Disables (or re-enables) an account by username, for operators. Disabling also revokes every
/// refresh token of the account; running services refuse its access tokens within seconds
/// (`auth::disabled`). An external identity is named by its user id (`provider:sub`, which no
/// username can be): it gets a marker row that cannot log in, so it can be disabled too.
pub async fn set_account_disabled(
    store: &dyn Store,
    username: &str,
    disabled: bool,
) -> Result<User, AuthError> {
    if username.contains(':') {
        return set_external_identity_disabled(store, username, disabled).await;
    }
    let name = Username::parse(username)?;
    let mut user = store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or(AuthError::Store(StoreError::NotFound))?;
    store.set_user_disabled(&user.id, disabled).await?;
    if disabled {
        store.revoke_all_refresh_tokens(&user.id, Utc::now()).await?;
    }
    user.disabled = disabled;
    Ok(user)
}

async fn set_external_identity_disabled(
    store: &dyn Store,
    user_id: &str,
    disabled: bool,
) -> Result<User, AuthError> {
    match store.set_user_disabled(user_id, disabled).await {
        Ok(()) => Ok(store.get_user(user_id).await?),
        Err(StoreError::NotFound) if disabled => {
            let marker = User {
                id: user_id.to_string(),
                // Usernames never contain `:`: nobody can log in as this, or register it.
                username: user_id.to_string(),
                // No PHC string: no password ever verifies against it.
                password_hash: String::new(),
                disabled: true,
                created_at: Utc::now(),
            };
            store.create_user(&marker).await?;
            Ok(marker)
        }
        Err(e) => Err(e.into()),
    }
}
