use async_trait::async_trait;
use sqlx::Row;

use super::uploads::to_record;
use super::PostgresStore;
use crate::store::records::{
    Bind, PageCursor, QueryBuilder, RecordStore, StatsGroup, StatsRow, UploadFilter,
};
use crate::store::upload_row::COLUMNS;
use crate::store::{StoreError, UploadRecord};

// Record queries run unprepared (`persistent(false)`): Postgres then plans each one for its own
// values. A cached generic plan cannot tell `image/*` over one profile (every row matches) from a
// rare type, and picked a 500 ms content-type index scan for the former in the load benchmark.
#[async_trait]
impl RecordStore for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn query_uploads(
        &self,
        filter: &UploadFilter,
        cursor: Option<&PageCursor>,
        limit: u32,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        let mut q = QueryBuilder::new(true);
        q.page(COLUMNS, filter, cursor, limit);
        let rows = Bind::all(sqlx::query(&q.sql), &q.binds)
            .persistent(false)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(to_record).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn upload_stats(
        &self,
        filter: &UploadFilter,
        group: StatsGroup,
    ) -> Result<Vec<StatsRow>, StoreError> {
        let mut q = QueryBuilder::new(true);
        q.stats(filter, group, "to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
        let rows = Bind::all(sqlx::query(&q.sql), &q.binds)
            .persistent(false)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StatsRow {
                    group: r.try_get("grp")?,
                    count: r.try_get("n")?,
                    bytes: r.try_get("bytes")?,
                })
            })
            .collect()
    }
}
