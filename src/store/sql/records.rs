//! Record queries (filters, keyset pages, statistics) for both backends: the text is built by
//! `store::records::QueryBuilder` in the backend's dialect (see [`super`]).

macro_rules! impl_record_store {
    ($store:ty, $row:ty, $dialect:expr) => {
        use async_trait::async_trait;
        use sqlx::Row;

        use super::uploads::to_record;
        use crate::store::records::{
            Bind, PageCursor, QueryBuilder, RecordStore, StatsGroup, StatsRow, UploadFilter,
        };
        use crate::store::upload_row::COLUMNS;
        use crate::store::{StoreError, UploadRecord};

        // On Postgres, record queries are prepared once per connection and planned for their own
        // values on every run (`plan_cache_mode`, set in `PostgresStore::open`), except pages whose
        // filter one cached plan serves ([`UploadFilter::generic_plan_is_safe`]), which go through
        // the pool whose connections keep that plan (`records_pool`).
        #[async_trait]
        impl RecordStore for $store {
            #[tracing::instrument(skip_all)]
            async fn query_uploads(
                &self,
                filter: &UploadFilter,
                cursor: Option<&PageCursor>,
                limit: u32,
            ) -> Result<Vec<UploadRecord>, StoreError> {
                let mut q = QueryBuilder::new($dialect);
                q.page(COLUMNS, filter, cursor, limit);
                let rows = Bind::all(sqlx::query(&q.sql), &q.binds)
                    .fetch_all(self.records_pool(filter.generic_plan_is_safe()))
                    .await?;
                rows.iter().map(to_record).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn upload_stats(
                &self,
                filter: &UploadFilter,
                group: StatsGroup,
            ) -> Result<Vec<StatsRow>, StoreError> {
                let mut q = QueryBuilder::new($dialect);
                q.stats(filter, group);
                let rows = Bind::all(sqlx::query(&q.sql), &q.binds)
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
    };
}

pub(crate) use impl_record_store;
