use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::SqliteStore;
use crate::store::uploads::{
    CompletedUpload, PendingUpload, Recorded, UploadRecord, UploadSource, UploadStatus, UploadStore,
};
use crate::store::StoreError;

pub(super) const COLUMNS: &str = "upload_id, user_id, profile, bucket, object_key, status, source, size, etag, mime_type, \
     image_width, image_height, image_format, vars, client_ip, oss_request_id, reason, issued_at, expires_at, \
     completed_at";

pub(super) fn to_record(row: &SqliteRow) -> Result<UploadRecord, StoreError> {
    // JSON is text on SQLite.
    let vars: serde_json::Value = serde_json::from_str(row.try_get("vars")?).unwrap_or_default();
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
impl UploadStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(n = uploads.len()))]
    async fn insert_pending(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        // Seven parameters a row; stay well under both backends' parameter limits.
        for chunk in uploads.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=7).map(|j| format!("?{}", i * 7 + j)).collect();
                    format!(
                        "({}, {}, {}, {}, {}, 'pending', {}, {})",
                        p[0], p[1], p[2], p[3], p[4], p[5], p[6]
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, issued_at, expires_at) \
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
                    .bind(u.expires_at);
            }
            inserted += query.execute(self.pool()).await?.rows_affected();
        }
        Ok(inserted)
    }

    #[tracing::instrument(skip_all, fields(upload_id = %u.upload_id))]
    async fn record_completed(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
        let sql = format!(
            "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, source, size, etag, \
                 mime_type, image_width, image_height, image_format, vars, client_ip, oss_request_id, issued_at, \
                 expires_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'completed', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             ON CONFLICT (upload_id) DO UPDATE SET
                 status = 'completed', source = EXCLUDED.source, size = EXCLUDED.size, etag = EXCLUDED.etag,
                 mime_type = EXCLUDED.mime_type, image_width = EXCLUDED.image_width,
                 image_height = EXCLUDED.image_height, image_format = EXCLUDED.image_format,
                 vars = EXCLUDED.vars, client_ip = EXCLUDED.client_ip, oss_request_id = EXCLUDED.oss_request_id,
                 reason = NULL, completed_at = EXCLUDED.completed_at
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
            .bind(serde_json::Value::Object(u.vars.clone()).to_string())
            .bind(&u.client_ip)
            .bind(&u.oss_request_id)
            .bind(u.issued_at)
            .bind(u.expires_at)
            .bind(u.completed_at)
            .fetch_optional(self.pool())
            .await?;
        match inserted {
            Some(row) => Ok(Recorded::Created(to_record(&row)?)),
            None => Ok(Recorded::AlreadyCompleted(self.get_upload(&u.upload_id).await?)),
        }
    }

    async fn get_upload(&self, upload_id: &str) -> Result<UploadRecord, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = ?1");
        let row = sqlx::query(&sql).bind(upload_id).fetch_one(self.pool()).await?;
        to_record(&row)
    }

    async fn count_uploads(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM uploads")
            .fetch_one(self.pool())
            .await?)
    }
}
