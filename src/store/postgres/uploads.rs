use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::PostgresStore;
use crate::store::upload_row::{
    self, settled_status, COLUMNS, SETTLE, SETTLED_COLUMNS, USERNAME_COLUMN, VARS,
};
use crate::store::uploads::{
    CompletedUpload, PendingUpload, Recorded, UploadRecord, UploadStore, UploadVersion,
};
use crate::store::webhooks::outbox::{self, EventType, NewEvent, INSERT_EVENT, RETURNING_USERNAME};
use crate::store::StoreError;

pub(super) fn to_record(row: &PgRow) -> Result<UploadRecord, StoreError> {
    upload_row::from_row(row, upload_row::vars_map(row.try_get(VARS)?))
}

/// A row returned with its username, and its event.
fn with_event(
    row: &PgRow,
    event_type: impl Fn(&UploadRecord) -> EventType,
) -> Result<(UploadRecord, NewEvent), StoreError> {
    let record = to_record(row)?;
    let event = outbox::event_of(event_type(&record), &record, row.try_get(USERNAME_COLUMN)?);
    Ok((record, event))
}

/// One completion in its own transaction, with its event.
pub(super) async fn record_one(pool: &PgPool, u: &CompletedUpload) -> Result<Recorded, StoreError> {
    let sql = upload_row::settle_one_sql('$');
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
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::int8[], $9::text[], $10::text[], $11::int4[], $12::int4[], $13::text[],
             $14::jsonb[], $15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[],
             $19::timestamptz[], $20::text[])
         {SETTLE}
         RETURNING {COLUMNS}{RETURNING_USERNAME}"
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

async fn get_one(pool: &PgPool, upload_id: &str) -> Result<UploadRecord, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = $1");
    let row = sqlx::query(&sql).bind(upload_id).fetch_one(pool).await?;
    to_record(&row)
}

#[async_trait]
impl UploadStore for PostgresStore {
    #[tracing::instrument(skip_all, fields(n = uploads.len()))]
    async fn insert_pending(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError> {
        // One statement text whatever the batch size (a single prepared statement), the rows as
        // eight arrays.
        let column = |f: fn(&PendingUpload) -> &str| uploads.iter().map(f).collect::<Vec<&str>>();
        let issued: Vec<DateTime<Utc>> = uploads.iter().map(|u| u.issued_at).collect();
        let expires: Vec<DateTime<Utc>> = uploads.iter().map(|u| u.expires_at).collect();
        let declared: Vec<i64> = uploads.iter().map(|u| u.declared_size).collect();
        let done = sqlx::query(
            "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, issued_at, expires_at, declared_size)
             SELECT id, usr, prf, bkt, k, 'pending', iss, exp, sz
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bigint[])
                  AS t(id, usr, prf, bkt, k, iss, exp, sz)
             ON CONFLICT (upload_id) DO NOTHING",
        )
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

    #[tracing::instrument(skip_all, fields(upload_id = %u.upload_id))]
    async fn record_completed(&self, u: &CompletedUpload) -> Result<Recorded, StoreError> {
        match &self.group_commit {
            Some(group) => group.record(self.pool(), u).await,
            None => record_one(self.pool(), u).await,
        }
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
        let mut tx = self.pool().begin().await?;
        let sql = format!(
            "UPDATE uploads SET status = 'abandoned', reason = $2, lease_until = NULL
             WHERE upload_id = $1 AND status = 'pending'
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
