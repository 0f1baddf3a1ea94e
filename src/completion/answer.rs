//! The JSON OSS relays to the app (`getServerCallbackReturnBody()`): built from the stored
//! record, so a repeated callback gets the very same body.

use serde_json::json;

use crate::profiles::Profiles;
use crate::store::UploadRecord;

pub fn object_url(profiles: &Profiles, record: &UploadRecord) -> Option<String> {
    Some(profiles.get(&record.profile)?.object_url(&record.key))
}

pub fn body(record: &UploadRecord, url: Option<String>) -> String {
    json!({
        "upload_id": record.upload_id,
        "status": record.status,
        "bucket": record.bucket,
        "key": record.key,
        "size": record.size,
        "etag": record.etag,
        "mime_type": record.mime_type,
        "url": url,
        "vars": record.vars,
        "reason": record.reason,
    })
    .to_string()
}
