//! An upload row as both backends return it: the columns of [`COLUMNS`], read by position.

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use super::sql::{opt, SqlTime};
use super::{CompletedUpload, StoreError, UploadRecord, UploadSource, UploadStatus, UploadVersion};

/// The columns `from_row` reads, in its order.
pub const COLUMNS: &str = "upload_id, user_id, profile, bucket, object_key, status, source, size, etag, mime_type, \
     image_width, image_height, image_format, vars, client_ip, oss_request_id, reason, issued_at, expires_at, \
     completed_at, username";

/// The uploader's username as a row is written, for `user_id` (an expression or a placeholder):
/// copied into the row once, so that reading a row never probes `users` (usernames never change;
/// external identities have no account and get NULL).
pub fn username_of(user_id: &str) -> String {
    format!("(SELECT username FROM users WHERE users.id = {user_id})")
}

/// Position of `vars` in [`COLUMNS`]: JSON is stored differently by each backend, which decodes it.
pub const VARS: usize = 13;

/// Builds the record from a row of [`COLUMNS`], with `vars` already decoded. By position: by
/// name, each of the twenty-one columns was a hash lookup (reading by position cut a records page's
/// server time by a tenth).
pub fn from_row<'r, R>(
    row: &'r R,
    vars: serde_json::Map<String, serde_json::Value>,
) -> Result<UploadRecord, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(UploadRecord {
        upload_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        username: row.try_get(20)?,
        profile: row.try_get(2)?,
        bucket: row.try_get(3)?,
        key: row.try_get(4)?,
        status: UploadStatus::parse(row.try_get(5)?)?,
        source: row
            .try_get::<Option<&str>, _>(6)?
            .map(UploadSource::parse)
            .transpose()?,
        size: row.try_get(7)?,
        etag: row.try_get(8)?,
        mime_type: row.try_get(9)?,
        image_width: row.try_get(10)?,
        image_height: row.try_get(11)?,
        image_format: row.try_get(12)?,
        vars,
        client_ip: row.try_get(14)?,
        oss_request_id: row.try_get(15)?,
        reason: row.try_get(16)?,
        issued_at: row.try_get(17)?,
        expires_at: row.try_get(18)?,
        completed_at: row.try_get(19)?,
    })
}

/// `vars` as a map. Nothing writes another JSON value there, so one is corruption: an error, not
/// a record quietly shown without its variables.
pub fn vars_map(value: serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match value {
        serde_json::Value::Object(map) => Ok(map),
        serde_json::Value::Null => Ok(serde_json::Map::new()),
        other => Err(StoreError::other(format!(
            "an upload's vars is not a JSON object: {}",
            other.to_string().chars().take(80).collect::<String>()
        ))),
    }
}

/// The columns a settled upload writes: the twenty [`bind_settled`] binds, in its order, then the
/// username (see [`username_of`]).
pub const SETTLED_COLUMNS: &str =
    "upload_id, user_id, profile, bucket, object_key, status, source, size, etag, \
     mime_type, image_width, image_height, image_format, vars, client_ip, oss_request_id, issued_at, \
     expires_at, completed_at, reason, username";

/// Settles a pending (or abandoned) row or creates it; an already settled row is left alone (and
/// a row keeps the username it was written with).
pub const SETTLE: &str = "ON CONFLICT (upload_id) DO UPDATE SET
         status = EXCLUDED.status, source = EXCLUDED.source, size = EXCLUDED.size, etag = EXCLUDED.etag,
         mime_type = EXCLUDED.mime_type, image_width = EXCLUDED.image_width,
         image_height = EXCLUDED.image_height, image_format = EXCLUDED.image_format,
         vars = EXCLUDED.vars, client_ip = EXCLUDED.client_ip, oss_request_id = EXCLUDED.oss_request_id,
         reason = EXCLUDED.reason, completed_at = EXCLUDED.completed_at
     WHERE uploads.status IN ('pending', 'abandoned')";

/// `INSERT` of one settled upload with placeholders `$1` to `$20`, returning the row.
pub fn settle_one_sql() -> String {
    let values: Vec<String> = (1..=20).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO uploads ({SETTLED_COLUMNS}) VALUES ({}, {}) {SETTLE} RETURNING {COLUMNS}",
        values.join(", "),
        username_of("$2")
    )
}

/// The settled row's status.
pub fn settled_status(u: &CompletedUpload) -> &'static str {
    match u.rejected {
        Some(_) => "rejected",
        None => "completed",
    }
}

/// Binds `u` in [`SETTLED_COLUMNS`] order, `vars` as each backend stores JSON.
pub fn bind_settled<'q, DB, V>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    u: &'q CompletedUpload,
    vars: V,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    V: Encode<'q, DB> + Type<DB> + 'q,
    &'q String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    &'q Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i32>: Encode<'q, DB> + Type<DB>,
    SqlTime: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(&u.upload_id)
        .bind(&u.user_id)
        .bind(&u.profile)
        .bind(&u.bucket)
        .bind(&u.key)
        .bind(settled_status(u))
        .bind(u.source.as_str())
        .bind(u.size)
        .bind(&u.etag)
        .bind(&u.mime_type)
        .bind(u.image_width)
        .bind(u.image_height)
        .bind(&u.image_format)
        .bind(vars)
        .bind(&u.client_ip)
        .bind(&u.oss_request_id)
        .bind(SqlTime(u.issued_at))
        .bind(SqlTime(u.expires_at))
        .bind(SqlTime(u.completed_at))
        .bind(&u.rejected)
}

/// Replaces a settled row's object facts with a newer version's, but only while the row still
/// describes `previous`'s object (two replacements racing: the second finds nothing).
pub const REPLACE_OBJECT: &str = "UPDATE uploads SET status = $1, source = $2, size = $3, etag = $4,
         mime_type = $5, image_width = $6, image_height = $7, image_format = $8, client_ip = $9,
         oss_request_id = $10, reason = $11, completed_at = $12
     WHERE upload_id = $13 AND status IN ('completed', 'rejected')
       AND etag IS NOT DISTINCT FROM $14 AND size IS NOT DISTINCT FROM $15";

/// Binds a replacement: the new version `u`, guarded by the `previous` row.
pub fn bind_replacement<'q, DB>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    u: &'q CompletedUpload,
    previous: &'q UploadRecord,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    &'q String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    &'q Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<i32>: Encode<'q, DB> + Type<DB>,
    SqlTime: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(settled_status(u))
        .bind(u.source.as_str())
        .bind(u.size)
        .bind(&u.etag)
        .bind(&u.mime_type)
        .bind(u.image_width)
        .bind(u.image_height)
        .bind(&u.image_format)
        .bind(&u.client_ip)
        .bind(&u.oss_request_id)
        .bind(&u.rejected)
        .bind(SqlTime(u.completed_at))
        .bind(&u.upload_id)
        .bind(&previous.etag)
        .bind(previous.size)
}

/// Keeps what a row described before a replacement, as the upload's next version.
pub const ARCHIVE_VERSION: &str = "INSERT INTO upload_versions
         (upload_id, version, status, source, size, etag, mime_type, reason, completed_at, replaced_at)
     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9
     FROM upload_versions WHERE upload_id = $1";

pub fn bind_version<'q, DB>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    previous: &'q UploadRecord,
    replaced_at: DateTime<Utc>,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    &'q String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    &'q Option<String>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    SqlTime: Encode<'q, DB> + Type<DB>,
    Option<SqlTime>: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(&previous.upload_id)
        .bind(previous.status.as_str())
        .bind(previous.source.map(UploadSource::as_str))
        .bind(previous.size)
        .bind(&previous.etag)
        .bind(&previous.mime_type)
        .bind(&previous.reason)
        .bind(opt(previous.completed_at))
        .bind(SqlTime(replaced_at))
}

/// An upload's earlier versions, oldest first, in the order [`version_from_row`] reads.
pub const VERSIONS: &str =
    "SELECT version, status, source, size, etag, mime_type, reason, completed_at, replaced_at
     FROM upload_versions WHERE upload_id = $1 ORDER BY version";

pub fn version_from_row<'r, R>(row: &'r R) -> Result<UploadVersion, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(UploadVersion {
        version: row.try_get(0)?,
        status: UploadStatus::parse(row.try_get(1)?)?,
        source: row
            .try_get::<Option<&str>, _>(2)?
            .map(UploadSource::parse)
            .transpose()?,
        size: row.try_get(3)?,
        etag: row.try_get(4)?,
        mime_type: row.try_get(5)?,
        reason: row.try_get(6)?,
        completed_at: row.try_get(7)?,
        replaced_at: row.try_get(8)?,
    })
}
