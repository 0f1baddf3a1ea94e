use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::limits::{usage_row, usage_sql, LimitStore, ProfileUsage};
use crate::store::StoreError;

/// One process owns a SQLite file, so its limits stay in memory (`crate::limits`): the default
/// `step_limit` says so.
#[async_trait]
impl LimitStore for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn upload_usage(
        &self,
        user_id: &str,
        profile: Option<&str>,
        day_start: DateTime<Utc>,
    ) -> Result<Vec<ProfileUsage>, StoreError> {
        let rows = sqlx::query(&usage_sql('?'))
            .bind(user_id)
            .bind(profile)
            .bind(day_start)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(usage_row).collect()
    }
}
