use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::SqliteStore;
use crate::store::upload_row::{self, COLUMNS, USERNAME_COLUMN, VARS};
use crate::store::uploads::{
    CompletedUpload, PendingUpload, Recorded, UploadRecord, UploadStore, UploadVersion,
};
use crate::store::webhooks::outbox::{self, EventType, NewEvent, INSERT_EVENT, RETURNING_USERNAME};
use crate::store::StoreError;

pub(super) fn to_record(row: &SqliteRow) -> Result<UploadRecord, StoreError> {
    // JSON is text on SQLite.
    upload_row::from_row(
        row,
        upload_row::vars_map(serde_json::from_str(row.try_get(VARS)?).unwrap_or_default()),
    )
}

/// A row returned with its username, and its event.
fn with_event(
    row: &SqliteRow,
    event_type: impl Fn(&UploadRecord) -> EventType,
) -> Result<(UploadRecord, NewEvent), StoreError> {
    let record = to_record(row)?;
    let event = outbox::event_of(event_type(&record), &record, row.try_get(USERNAME_COLUMN)?);
    Ok((record, event))
}

#[async_trait]
impl UploadStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(n = uploads.len()))]
    async fn insert_pending(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        // Eight parameters a row; stay well under both backends' parameter limits.
        for chunk in uploads.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=8).map(|j| format!("?{}", i * 8 + j)).collect();
                    format!(
                        "({}, {}, {}, {}, {}, 'pending', {}, {}, {})",
                        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, issued_at, expires_at, declared_size) \
                 VALUES {} ON CONFLICT (upload_id) DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for u in chunk {
                query = query
                    .bind(&u.upload_id)
                    .bind(&u.user_id)
                    .bind(&u.profile)
                    .bind(&u.bucket)
                    .bind(&u.key)
                    .bind(u.issued_at)
                    .bind(u.expires_at)
                    .bind(u.declared_size);
            }
            inserted += query.execute(self.pool()).await?.rows_affected();
        }
        Ok(inserted)
    }

    #[tracing::instrument(skip_all, fields(upload_id = %u.upload_id))]
    async fn record_completed(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
        let sql = upload_row::settle_one_sql('?');
        // JSON is text on SQLite.
        let vars = serde_json::Value::Object(u.vars.clone()).to_string();
        let mut tx = self.pool().begin().await?;
        let inserted = upload_row::bind_settled(sqlx::query(&sql), u, vars)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = inserted else {
            tx.commit().await?;
            return Ok(Recorded::AlreadyCompleted(self.get_upload(&u.upload_id).await?));
        };
        let (record, event) = with_event(&row, EventType::of_settled)?;
        outbox::bind_event(sqlx::query(INSERT_EVENT), &event)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Recorded::Created(record))
    }

    async fn get_upload(&self, upload_id: &str) -> Result<UploadRecord, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = ?1");
        let row = sqlx::query(&sql).bind(upload_id).fetch_one(self.pool()).await?;
        to_record(&row)
    }

    async fn replace_object(
        &self,
        u: &CompletedUpload,
        previous: &UploadRecord,
    ) -> Result<Option<UploadRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let sql = format!(
            "{} RETURNING {COLUMNS}{RETURNING_USERNAME}",
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
        // SQLite has one writer at a time: the UPDATE itself is the lock.
        let now = Utc::now();
        let sql = format!(
            "UPDATE uploads SET lease_until = ?3, lease_owner = ?4
             WHERE upload_id IN (
                 SELECT upload_id FROM uploads
                 WHERE status = 'pending' AND expires_at < ?1 AND (lease_until IS NULL OR lease_until < ?5)
                 ORDER BY expires_at LIMIT ?2)
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(expired_before)
            .bind(limit as i64)
            .bind(now + chrono::Duration::seconds(lease_secs))
            .bind(owner)
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(to_record).collect()
    }

    async fn mark_abandoned(&self, upload_id: &str, reason: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let sql = format!(
            "UPDATE uploads SET status = 'abandoned', reason = ?2, lease_until = NULL
             WHERE upload_id = ?1 AND status = 'pending'
             RETURNING {COLUMNS}{RETURNING_USERNAME}"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(upload_id)
            .bind(reason)
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
