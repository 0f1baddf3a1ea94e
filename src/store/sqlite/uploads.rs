//! What SQLite does its own way with uploads: pending rows as multi-row `VALUES` (no arrays), and
//! each completion in its own transaction (one writer at a time: nothing to group).

use super::sql::uploads::record_one;
use super::SqliteStore;
use crate::store::sql::SqlTime;
use crate::store::upload_row::username_of;
use crate::store::uploads::{CompletedUpload, PendingUpload, Recorded};
use crate::store::StoreError;

impl SqliteStore {
    /// `UploadStore::insert_pending`.
    pub(super) async fn insert_pending_rows(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        // Eight parameters a row; stay well under SQLite's parameter limit.
        for chunk in uploads.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=8).map(|j| format!("${}", i * 8 + j)).collect();
                    format!(
                        "({}, 'pending', {}, {})",
                        p[..5].join(", "),
                        p[5..].join(", "),
                        username_of(&p[1])
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, issued_at, expires_at, declared_size, username) \
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
                    .bind(SqlTime(u.issued_at))
                    .bind(SqlTime(u.expires_at))
                    .bind(u.declared_size);
            }
            inserted += query.execute(self.pool()).await?.rows_affected();
        }
        Ok(inserted)
    }

    /// `UploadStore::record_completed`.
    pub(super) async fn settle(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
        record_one(self.pool(), u).await
    }
}
