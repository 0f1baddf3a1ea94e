//! Shared request limits and upload usage, one text per query for both backends (see [`super`]).

macro_rules! impl_limit_store {
    ($store:ty, $dialect:expr) => {
        use std::time::Duration;

        use async_trait::async_trait;
        use chrono::{DateTime, Utc};

        use crate::store::limits::{usage_row, LimitState, LimitStep, LimitStore, ProfileUsage, USAGE};
        use crate::store::sql::SqlTime;
        use crate::store::StoreError;

        #[async_trait]
        impl LimitStore for $store {
            #[tracing::instrument(skip_all, fields(name))]
            async fn step_limit(
                &self,
                name: &str,
                key: &str,
                now: i64,
                expires_at: i64,
                step: LimitStep<'_>,
            ) -> Result<Result<(), Duration>, StoreError> {
                if !$dialect.shared_limits {
                    return Err(StoreError::Other("this store keeps no shared limits".into()));
                }
                let mut tx = self.pool().begin().await?;
                // Creates the row if needed and locks it either way: concurrent steps on one key
                // queue here, on every instance. A new row has `expires_us = 0`, i.e. no state.
                let (count, at, expires): (i64, i64, i64) = sqlx::query_as(
                    "INSERT INTO rate_limits (name, key, count, at_us, expires_us) VALUES ($1, $2, 0, 0, 0)
                     ON CONFLICT (name, key) DO UPDATE SET name = EXCLUDED.name
                     RETURNING count, at_us, expires_us",
                )
                .bind(name)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let current = (expires > now).then_some(LimitState { count, at });
                match step(current, now) {
                    Err(wait) => {
                        tx.rollback().await?;
                        return Ok(Err(wait));
                    }
                    Ok(Some(next)) => {
                        sqlx::query(
                            "UPDATE rate_limits SET count = $1, at_us = $2, expires_us = $3 WHERE name = $4 AND key = $5",
                        )
                        .bind(next.count)
                        .bind(next.at)
                        .bind(expires_at)
                        .bind(name)
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Ok(None) => {
                        sqlx::query("DELETE FROM rate_limits WHERE name = $1 AND key = $2")
                            .bind(name)
                            .bind(key)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn purge_limits(&self, now: i64) -> Result<u64, StoreError> {
                if !$dialect.shared_limits {
                    return Ok(0);
                }
                let done = sqlx::query("DELETE FROM rate_limits WHERE expires_us < $1")
                    .bind(now)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn upload_usage(
                &self,
                user_id: &str,
                profile: Option<&str>,
                day_start: DateTime<Utc>,
            ) -> Result<Vec<ProfileUsage>, StoreError> {
                let rows = sqlx::query(USAGE)
                    .bind(SqlTime(day_start))
                    .bind(user_id)
                    .bind(profile)
                    .fetch_all(self.pool())
                    .await?;
                rows.iter().map(usage_row).collect()
            }
        }
    };
}

pub(crate) use impl_limit_store;
