//! Upload rows for both backends (see [`super`]): settling one completion, replacing an object,
//! versions, the reconciler's lease, abandonment. Each backend adds what it does its own way:
//! `insert_pending_rows` and `settle` (Postgres: `UNNEST` arrays and the group commit; SQLite:
//! multi-row `VALUES` and one completion at a time).

macro_rules! impl_upload_store {
    ($store:ty, $pool:ty, $row:ty, $dialect:expr) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::Row;

        use crate::store::sql::SqlTime;
        use crate::store::upload_row::{self, COLUMNS, VARS};
        use crate::store::uploads::{
            CompletedUpload, PendingUpload, Recorded, UploadRecord, UploadStore, UploadVersion,
        };
        use crate::store::webhooks::outbox::{self, EventType, NewEvent, INSERT_EVENT};
        use crate::store::StoreError;

        /// A row of [`COLUMNS`].
        pub(in crate::store) fn to_record(row: &$row) -> Result<UploadRecord, StoreError> {
            upload_row::from_row(row, upload_row::vars_map(row.try_get(VARS)?)?)
        }

        /// A row, and its event.
        pub(in crate::store) fn with_event(
            row: &$row,
            event_type: impl Fn(&UploadRecord) -> EventType,
        ) -> Result<(UploadRecord, NewEvent), StoreError> {
            let record = to_record(row)?;
            let event = NewEvent::new(event_type(&record), &record, Utc::now());
            Ok((record, event))
        }

        /// One completion in its own transaction, with its event.
        pub(in crate::store) async fn record_one(pool: &$pool, u: &CompletedUpload) -> Result<Recorded, StoreError> {
            let sql = upload_row::settle_one_sql();
            let vars = serde_json::Value::Object(u.vars.clone());
            let mut tx = pool.begin().await?;
            let inserted = upload_row::bind_settled(sqlx::query(&sql), u, vars)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = inserted else {
                // Ends the transaction (and the conflict's row lock) before reading the row.
                tx.commit().await?;
                return Ok(Recorded::AlreadyCompleted(get_one(pool, &u.upload_id).await?));
            };
            let (record, event) = with_event(&row, EventType::of_settled)?;
            outbox::bind_event(sqlx::query(INSERT_EVENT), &event)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Recorded::Created(record))
        }

        async fn get_one(pool: &$pool, upload_id: &str) -> Result<UploadRecord, StoreError> {
            let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = $1");
            let row = sqlx::query(&sql).bind(upload_id).fetch_one(pool).await?;
            to_record(&row)
        }

        #[async_trait]
        impl UploadStore for $store {
            #[tracing::instrument(skip_all, fields(n = uploads.len()))]
            async fn insert_pending(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
                self.insert_pending_rows(uploads).await
            }

            #[tracing::instrument(skip_all, fields(upload_id = %u.upload_id))]
            async fn record_completed(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
                self.settle(u).await
            }

            async fn get_upload(&self, upload_id: &str) -> Result<UploadRecord, StoreError> {
                get_one(self.pool(), upload_id).await
            }

            async fn replace_object(
                &self,
                u: &CompletedUpload,
                previous: &UploadRecord,
            ) -> Result<Option<UploadRecord>, StoreError> {
                let mut tx = self.pool().begin().await?;
                let sql = format!(
                    "{} RETURNING {COLUMNS}",
                    upload_row::REPLACE_OBJECT
                );
                let Some(row) = upload_row::bind_replacement(sqlx::query(&sql), u, previous)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                upload_row::bind_version(sqlx::query(upload_row::ARCHIVE_VERSION), previous, u.completed_at)
                    .execute(&mut *tx)
                    .await?;
                let (record, event) = with_event(&row, |_| EventType::Updated)?;
                outbox::bind_event(sqlx::query(INSERT_EVENT), &event)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(record))
            }

            async fn upload_versions(&self, upload_id: &str) -> Result<Vec<UploadVersion>, StoreError> {
                let rows = sqlx::query(upload_row::VERSIONS)
                    .bind(upload_id)
                    .fetch_all(self.pool())
                    .await?;
                rows.iter().map(upload_row::version_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn lease_expired_pending(
                &self,
                expired_before: DateTime<Utc>,
                limit: u32,
                lease_secs: i64,
                owner: &str,
            ) -> Result<Vec<UploadRecord>, StoreError> {
                // The clock is this instance's, as for webhook leases.
                let now = Utc::now();
                let sql = format!(
                    "UPDATE uploads SET lease_until = $1, lease_owner = $2
                     WHERE upload_id IN (
                         SELECT upload_id FROM uploads
                         WHERE status = 'pending' AND expires_at < $3 AND (lease_until IS NULL OR lease_until < $4)
                         ORDER BY expires_at LIMIT $5 {})
                     RETURNING {COLUMNS}",
                    $dialect.skip_locked("uploads")
                );
                let rows = sqlx::query(&sql)
                    .bind(SqlTime(now + chrono::Duration::seconds(lease_secs)))
                    .bind(owner)
                    .bind(SqlTime(expired_before))
                    .bind(SqlTime(now))
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await?;
                rows.iter().map(to_record).collect()
            }

            async fn mark_abandoned(&self, upload_id: &str, reason: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool().begin().await?;
                let sql = format!(
                    "UPDATE uploads SET status = 'abandoned', reason = $1, lease_until = NULL
                     WHERE upload_id = $2 AND status = 'pending'
                     RETURNING {COLUMNS}"
                );
                let Some(row) = sqlx::query(&sql)
                    .bind(reason)
                    .bind(upload_id)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(false);
                };
                let (_, event) = with_event(&row, |_| EventType::Abandoned)?;
                outbox::bind_event(sqlx::query(INSERT_EVENT), &event)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn pending_summary(&self) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, MIN(issued_at) AS oldest FROM uploads WHERE status = 'pending'",
                )
                .fetch_one(self.pool())
                .await?;
                Ok((row.try_get("n")?, row.try_get("oldest")?))
            }

            async fn count_uploads(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM uploads")
                    .fetch_one(self.pool())
                    .await?)
            }
        }
    };
}

pub(crate) use impl_upload_store;
