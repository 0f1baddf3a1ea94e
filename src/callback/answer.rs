//! The JSON OSS relays to the app (`getServerCallbackReturnBody()`): built from the stored
//! record, so a repeated callback gets the very same body.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::json;

use crate::settings::ProfileSettings;
use crate::store::UploadRecord;

/// Path-segment encoding for object URLs; `/` separates segments and stays.
const KEY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn object_url(profiles: &BTreeMap<String, ProfileSettings>, record: &UploadRecord) -> Option<String> {
    let base = profiles.get(&record.profile)?.bucket_url()?;
    Some(format!("{base}/{}", utf8_percent_encode(&record.key, KEY_PATH)))
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
    })
    .to_string()
}
