//! The JSON OSS relays to the app (`getServerCallbackReturnBody()`): built from the stored
//! record, so a repeated callback gets the very same body.

use std::collections::BTreeMap;

use serde_json::json;

use crate::settings::ProfileSettings;
use crate::store::UploadRecord;

pub fn object_url(profiles: &BTreeMap<String, ProfileSettings>, record: &UploadRecord) -> Option<String> {
    profiles.get(&record.profile)?.object_url(&record.key)
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
