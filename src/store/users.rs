//! Accounts of the built-in identity provider and their refresh-token families.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// A built-in account. `username` is stored normalised (see `auth::usernames`).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    /// PHC string (Argon2id); never leaves the service.
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A refresh token as stored: only the SHA-256 of the opaque value the client holds.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub token_hash: String,
    /// One login's chain of rotations; revoked as a whole when a used token comes back.
    pub family_id: String,
    pub user_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict` when the username is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// The user with this (already normalised) username, if any.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id; `NotFound` otherwise.
    async fn get_user(&self, id: &str) -> Result<User, StoreError>;

    /// Enables or disables an account; `NotFound` for an unknown id.
    async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError>;

    /// Ids of every disabled account (built-in, or an external identity's marker row).
    async fn disabled_user_ids(&self) -> Result<Vec<String>, StoreError>;

    /// Stores a new refresh token (`used_at` and `revoked_at` are ignored: a new token is fresh).
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError>;

    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError>;

    /// Marks the token used if it is neither used nor revoked yet. `false` means another request got
    /// there first (or it was revoked): the caller must treat that as reuse. Atomic, so two
    /// concurrent refreshes with the same token cannot both succeed.
    async fn mark_refresh_token_used(&self, token_hash: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revokes every not-yet-revoked token of a family; returns how many.
    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Revokes every not-yet-revoked token of a user (logout everywhere, account disabled).
    async fn revoke_all_refresh_tokens(&self, user_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;
}
