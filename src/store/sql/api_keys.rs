//! API keys, one text per query for both backends (see [`super`]).

macro_rules! impl_api_key_store {
    ($store:ty, $row:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::Row;

        use crate::store::api_keys::{ApiKeyRecord, ApiKeyStore};
        use crate::store::sql::SqlTime;
        use crate::store::webhooks::split_list;
        use crate::store::StoreError;

        const COLUMNS: &str = "id, name, secret_hash, scopes, created_at, last_used_at, revoked_at";

        fn to_key(row: &$row) -> Result<ApiKeyRecord, StoreError> {
            Ok(ApiKeyRecord {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                secret_hash: row.try_get(2)?,
                scopes: split_list(row.try_get(3)?),
                created_at: row.try_get(4)?,
                last_used_at: row.try_get(5)?,
                revoked_at: row.try_get(6)?,
            })
        }

        #[async_trait]
        impl ApiKeyStore for $store {
            async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_keys (id, name, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.secret_hash)
                .bind(key.scopes.join(","))
                .bind(SqlTime(key.created_at))
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn get_api_key(&self, id: &str) -> Result<ApiKeyRecord, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
                to_key(&sqlx::query(&sql).bind(id).fetch_one(self.pool()).await?)
            }

            async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id");
                let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
                rows.iter().map(to_key).collect()
            }

            async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(SqlTime(at))
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                match done.rows_affected() {
                    0 => Err(StoreError::NotFound),
                    _ => Ok(()),
                }
            }

            async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                    .bind(SqlTime(at))
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_api_key_store;
