use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};

use super::SqliteStore;
use crate::store::users::{RefreshToken, User, UserStore};
use crate::store::StoreError;

// Timestamps are RFC 3339 text with a fixed width (microseconds, `Z`), so they also sort as text.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Other(format!("bad timestamp {raw:?} in database: {e}")))
}

fn parse_opt_ts(raw: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    raw.as_deref().map(parse_ts).transpose()
}

type UserRow = (String, String, String, bool, String);
type TokenRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

const USER_COLUMNS: &str = "id, username, password_hash, disabled, created_at";

fn user((id, username, password_hash, disabled, created_at): UserRow) -> Result<User, StoreError> {
    Ok(User {
        id,
        username,
        password_hash,
        disabled,
        created_at: parse_ts(&created_at)?,
    })
}

fn token(
    (token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked_at): TokenRow,
) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        token_hash,
        family_id,
        user_id,
        issued_at: parse_ts(&issued_at)?,
        expires_at: parse_ts(&expires_at)?,
        used_at: parse_opt_ts(used_at)?,
        revoked_at: parse_opt_ts(revoked_at)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn create_user(&self, u: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.disabled)
        .bind(ts(u.created_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.map(user).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn get_user(&self, id: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row: UserRow = sqlx::query_as(&sql).bind(id).fetch_one(self.pool()).await?;
        user(row)
    }

    #[tracing::instrument(skip_all)]
    async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn disabled_user_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM users WHERE disabled <> 0")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&t.token_hash)
        .bind(&t.family_id)
        .bind(&t.user_id)
        .bind(ts(t.issued_at))
        .bind(ts(t.expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(token).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn mark_refresh_token_used(&self, token_hash: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ? \
             WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(token_hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(family_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_all_refresh_tokens(&self, user_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
                .bind(ts(at))
                .bind(user_id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
