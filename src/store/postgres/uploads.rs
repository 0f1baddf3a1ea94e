use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PostgresStore;
use crate::store::uploads::{
    CompletedUpload, PendingUpload, Recorded, UploadRecord, UploadSource, UploadStatus, UploadStore,
};
use crate::store::StoreError;

pub(super) const COLUMNS: &str = "upload_id, user_id, profile, bucket, object_key, status, source, size, etag, mime_type, \
     image_width, image_height, image_format, vars, client_ip, oss_request_id, reason, issued_at, expires_at, \
     completed_at";

pub(super) fn to_record(row: &PgRow) -> Result<UploadRecord, StoreError> {
    let vars: serde_json::Value = row.try_get("vars")?;
    Ok(UploadRecord {
        upload_id: row.try_get("upload_id")?,
        user_id: row.try_get("user_id")?,
        profile: row.try_get("profile")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("object_key")?,
        status: UploadStatus::parse(row.try_get("status")?)?,
        source: row
            .try_get::<Option<&str>, _>("source")?
            .map(UploadSource::parse)
            .transpose()?,
        size: row.try_get("size")?,
        etag: row.try_get("etag")?,
        mime_type: row.try_get("mime_type")?,
        image_width: row.try_get("image_width")?,
        image_height: row.try_get("image_height")?,
        image_format: row.try_get("image_format")?,
        vars: match vars {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
        client_ip: row.try_get("client_ip")?,
        oss_request_id: row.try_get("oss_request_id")?,
        reason: row.try_get("reason")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

#[async_trait]
impl UploadStore for PostgresStore {
    #[tracing::instrument(skip_all, fields(n = uploads.len()))]
    async fn insert_pending(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
        // One statement text whatever the batch size (a single prepared statement), the rows as
        // seven arrays.
        let column = |f: fn(&PendingUpload) -> &str| uploads.iter().map(f).collect::<Vec<&str>>();
        let issued: Vec<DateTime<Utc>> = uploads.iter().map(|u| u.issued_at).collect();
        let expires: Vec<DateTime<Utc>> = uploads.iter().map(|u| u.expires_at).collect();
        let done = sqlx::query(
            "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, issued_at, expires_at)
             SELECT id, usr, prf, bkt, k, 'pending', iss, exp
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
                  AS t(id, usr, prf, bkt, k, iss, exp)
             ON CONFLICT (upload_id) DO NOTHING",
        )
        .bind(column(|u| &u.upload_id))
        .bind(column(|u| &u.user_id))
        .bind(column(|u| &u.profile))
        .bind(column(|u| &u.bucket))
        .bind(column(|u| &u.key))
        .bind(issued)
        .bind(expires)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(upload_id = %u.upload_id))]
    async fn record_completed(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
        let sql = format!(
            "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, source, size, etag, \
                 mime_type, image_width, image_height, image_format, vars, client_ip, oss_request_id, issued_at, \
                 expires_at, completed_at, reason)
             VALUES ($1, $2, $3, $4, $5, $19, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $20)
             ON CONFLICT (upload_id) DO UPDATE SET
                 status = EXCLUDED.status, source = EXCLUDED.source, size = EXCLUDED.size, etag = EXCLUDED.etag,
                 mime_type = EXCLUDED.mime_type, image_width = EXCLUDED.image_width,
                 image_height = EXCLUDED.image_height, image_format = EXCLUDED.image_format,
                 vars = EXCLUDED.vars, client_ip = EXCLUDED.client_ip, oss_request_id = EXCLUDED.oss_request_id,
                 reason = EXCLUDED.reason, completed_at = EXCLUDED.completed_at
             WHERE uploads.status IN ('pending', 'abandoned')
             RETURNING {COLUMNS}"
        );
        let inserted = sqlx::query(&sql)
            .bind(&u.upload_id)
            .bind(&u.user_id)
            .bind(&u.profile)
            .bind(&u.bucket)
            .bind(&u.key)
            .bind(u.source.as_str())
            .bind(u.size)
            .bind(&u.etag)
            .bind(&u.mime_type)
            .bind(u.image_width)
            .bind(u.image_height)
            .bind(&u.image_format)
            .bind(serde_json::Value::Object(u.vars.clone()))
            .bind(&u.client_ip)
            .bind(&u.oss_request_id)
            .bind(u.issued_at)
            .bind(u.expires_at)
            .bind(u.completed_at)
            .bind(if u.rejected.is_some() {
                "rejected"
            } else {
                "completed"
            })
            .bind(&u.rejected)
            .fetch_optional(self.pool())
            .await?;
        match inserted {
            Some(row) => Ok(Recorded::Created(to_record(&row)?)),
            None => Ok(Recorded::AlreadyCompleted(self.get_upload(&u.upload_id).await?)),
        }
    }

    async fn get_upload(&self, upload_id: &str) -> Result<UploadRecord, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = $1");
        let row = sqlx::query(&sql).bind(upload_id).fetch_one(self.pool()).await?;
        to_record(&row)
    }

    #[tracing::instrument(skip_all)]
    async fn lease_expired_pending(
        &self,
        expired_before: DateTime<Utc>,
        limit: u32,
        lease_secs: i64,
        owner: &str,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        // SKIP LOCKED: concurrent reconcilers each take different rows, none waits.
        let sql = format!(
            "UPDATE uploads SET lease_until = now() + make_interval(secs => $3), lease_owner = $4
             WHERE upload_id IN (
                 SELECT upload_id FROM uploads
                 WHERE status = 'pending' AND expires_at < $1 AND (lease_until IS NULL OR lease_until < now())
                 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(expired_before)
            .bind(limit as i64)
            .bind(lease_secs as f64)
            .bind(owner)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(to_record).collect()
    }

    async fn mark_abandoned(&self, upload_id: &str, reason: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE uploads SET status = 'abandoned', reason = $2, lease_until = NULL
             WHERE upload_id = $1 AND status = 'pending'",
        )
        .bind(upload_id)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
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
