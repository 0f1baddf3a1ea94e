//! Accounts and refresh tokens, one text per query for both backends (see [`super`]).

macro_rules! impl_user_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};

        use crate::store::sql::SqlTime;
        use crate::store::users::{RefreshToken, User, UserStore};
        use crate::store::StoreError;

        type UserRow = (String, String, String, bool, DateTime<Utc>);
        type TokenRow = (
            String,
            String,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        );

        const USER_COLUMNS: &str = "id, username, password_hash, disabled, created_at";

        fn user((id, username, password_hash, disabled, created_at): UserRow) -> User {
            User {
                id,
                username,
                password_hash,
                disabled,
                created_at,
            }
        }

        fn token(
            (token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked_at): TokenRow,
        ) -> RefreshToken {
            RefreshToken {
                token_hash,
                family_id,
                user_id,
                issued_at,
                expires_at,
                used_at,
                revoked_at,
            }
        }

        #[async_trait]
        impl UserStore for $store {
            #[tracing::instrument(skip_all)]
            async fn create_user(&self, u: &User) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, username, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&u.id)
                .bind(&u.username)
                .bind(&u.password_hash)
                .bind(u.disabled)
                .bind(SqlTime(u.created_at))
                .execute(self.pool())
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
                let row: Option<UserRow> = sqlx::query_as(&sql)
                    .bind(username)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.map(user))
            }

            #[tracing::instrument(skip_all)]
            async fn get_user(&self, id: &str) -> Result<User, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let row: UserRow = sqlx::query_as(&sql).bind(id).fetch_one(self.pool()).await?;
                Ok(user(row))
            }

            #[tracing::instrument(skip_all)]
            async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                    .bind(disabled)
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                match done.rows_affected() {
                    0 => Err(StoreError::NotFound),
                    _ => Ok(()),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn disabled_user_ids(&self) -> Result<Vec<String>, StoreError> {
                // A SQLite boolean is an integer, true when not 0: `WHERE disabled` reads alike.
                let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM users WHERE disabled")
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            #[tracing::instrument(skip_all)]
            async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.token_hash)
                .bind(&t.family_id)
                .bind(&t.user_id)
                .bind(SqlTime(t.issued_at))
                .bind(SqlTime(t.expires_at))
                .execute(self.pool())
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
                let row: Option<TokenRow> = sqlx::query_as(
                    "SELECT token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked_at \
                     FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.map(token))
            }

            #[tracing::instrument(skip_all)]
            async fn mark_refresh_token_used(&self, token_hash: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1 \
                     WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL",
                )
                .bind(SqlTime(at))
                .bind(token_hash)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
                )
                .bind(SqlTime(at))
                .bind(family_id)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn revoke_all_refresh_tokens(&self, user_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(SqlTime(at))
                .bind(user_id)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_user_store;
