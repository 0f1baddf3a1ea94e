//! What only Postgres does with uploads: rows as arrays (`UNNEST`), many to a statement, for
//! pending credentials and for the group commit's batches of completions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::PgPool;

use super::sql::uploads::{record_one, to_record, with_event};
use super::PostgresStore;
use crate::store::upload_row::{settled_status, username_of, COLUMNS, SETTLE, SETTLED_COLUMNS};
use crate::store::uploads::{CompletedUpload, PendingUpload, Recorded, UploadRecord};
use crate::store::webhooks::outbox::{EventType, NewEvent};
use crate::store::StoreError;

/// Many completions (distinct uploads) in one statement, the rows as arrays, and their events in
/// a second, in one transaction: returns the rows this statement settled, by upload id.
pub(super) async fn insert_many(
    pool: &PgPool,
    uploads: &[&CompletedUpload],
) -> Result<HashMap<String, UploadRecord>, StoreError> {
    fn column<'a, T>(uploads: &[&'a CompletedUpload], f: impl Fn(&'a CompletedUpload) -> T) -> Vec<T> {
        uploads.iter().map(|u| f(u)).collect()
    }
    let sql = format!(
        "INSERT INTO uploads ({SETTLED_COLUMNS})
         SELECT t.*, {} FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::int8[], $9::text[], $10::text[], $11::int4[], $12::int4[], $13::text[],
             $14::jsonb[], $15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[],
             $19::timestamptz[], $20::text[]) AS t(id, usr)
         {SETTLE}
         RETURNING {COLUMNS}",
        username_of("t.usr")
    );
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(&sql)
        .bind(column(uploads, |u| u.upload_id.as_str()))
        .bind(column(uploads, |u| u.user_id.as_str()))
        .bind(column(uploads, |u| u.profile.as_str()))
        .bind(column(uploads, |u| u.bucket.as_str()))
        .bind(column(uploads, |u| u.key.as_str()))
        .bind(column(uploads, settled_status))
        .bind(column(uploads, |u| u.source.as_str()))
        .bind(column(uploads, |u| u.size))
        .bind(column(uploads, |u| u.etag.as_deref()))
        .bind(column(uploads, |u| u.mime_type.as_deref()))
        .bind(column(uploads, |u| u.image_width))
        .bind(column(uploads, |u| u.image_height))
        .bind(column(uploads, |u| u.image_format.as_deref()))
        .bind(column(uploads, |u| serde_json::Value::Object(u.vars.clone())))
        .bind(column(uploads, |u| u.client_ip.as_deref()))
        .bind(column(uploads, |u| u.oss_request_id.as_deref()))
        .bind(column(uploads, |u| u.issued_at))
        .bind(column(uploads, |u| u.expires_at))
        .bind(column(uploads, |u| u.completed_at))
        .bind(column(uploads, |u| u.rejected.as_deref()))
        .fetch_all(&mut *tx)
        .await?;
    let mut created = HashMap::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let (record, event) = with_event(row, EventType::of_settled)?;
        created.insert(record.upload_id.clone(), record);
        events.push(event);
    }
    if !events.is_empty() {
        insert_events(&mut tx, &events).await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// Events as six arrays in one statement.
async fn insert_events(tx: &mut sqlx::PgConnection, events: &[NewEvent]) -> Result<(), StoreError> {
    let text = |f: fn(&NewEvent) -> &str| events.iter().map(f).collect::<Vec<&str>>();
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, upload_id, profile, payload, created_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])",
    )
    .bind(text(|e| &e.id))
    .bind(text(|e| e.event_type.as_str()))
    .bind(text(|e| &e.upload_id))
    .bind(text(|e| &e.profile))
    .bind(text(|e| &e.payload))
    .bind(
        events
            .iter()
            .map(|e| e.created_at)
            .collect::<Vec<DateTime<Utc>>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The rows of these uploads as they are now, by upload id.
pub(super) async fn fetch_many(
    pool: &PgPool,
    upload_ids: &[&str],
) -> Result<HashMap<String, UploadRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = ANY($1)");
    let rows = sqlx::query(&sql).bind(upload_ids).fetch_all(pool).await?;
    by_id(&rows)
}

fn by_id(rows: &[PgRow]) -> Result<HashMap<String, UploadRecord>, StoreError> {
    rows.iter()
        .map(|row| to_record(row).map(|r| (r.upload_id.clone(), r)))
        .collect()
}

impl PostgresStore {
    /// `UploadStore::insert_pending`: one statement text whatever the batch size (a single
    /// prepared statement), the rows as eight arrays.
    pub(super) async fn insert_pending_rows(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
        let column = |f: fn(&PendingUpload) -> &str| uploads.iter().map(f).collect::<Vec<&str>>();
        let issued: Vec<DateTime<Utc>> = uploads.iter().map(|u| u.issued_at).collect();
        let expires: Vec<DateTime<Utc>> = uploads.iter().map(|u| u.expires_at).collect();
        let declared: Vec<i64> = uploads.iter().map(|u| u.declared_size).collect();
        let sql = format!(
            "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, issued_at, expires_at, declared_size, username)
             SELECT id, usr, prf, bkt, k, 'pending', iss, exp, sz, {}
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bigint[])
                  AS t(id, usr, prf, bkt, k, iss, exp, sz)
             ON CONFLICT (upload_id) DO NOTHING",
            username_of("usr")
        );
        let done = sqlx::query(&sql)
            .bind(column(|u| &u.upload_id))
            .bind(column(|u| &u.user_id))
            .bind(column(|u| &u.profile))
            .bind(column(|u| &u.bucket))
            .bind(column(|u| &u.key))
            .bind(issued)
            .bind(expires)
            .bind(declared)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// `UploadStore::record_completed`: through the group commit when it runs.
    pub(super) async fn settle(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
        match &self.group_commit {
            Some(group) => group.record(self.pool(), u).await,
            None => record_one(self.pool(), u).await,
        }
    }
}
