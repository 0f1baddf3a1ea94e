//! An upload row as both backends return it: the columns of [`COLUMNS`], read by position.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{StoreError, UploadRecord, UploadSource, UploadStatus};

/// The columns `from_row` reads, in its order.
pub const COLUMNS: &str = "upload_id, user_id, profile, bucket, object_key, status, source, size, etag, mime_type, \
     image_width, image_height, image_format, vars, client_ip, oss_request_id, reason, issued_at, expires_at, \
     completed_at";

/// Position of `vars` in [`COLUMNS`]: JSON is stored differently by each backend, which decodes it.
pub const VARS: usize = 13;

/// Builds the record from a row of [`COLUMNS`], with `vars` already decoded. By position: by
/// name, each of the twenty columns was a hash lookup, a fifth of a records page's server time.
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

/// `vars` as a map; anything else (never written) as an empty one.
pub fn vars_map(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
