//! From a verified callback body to the upload it completes: the upload token must be ours and
//! the bucket and key OSS reports must be the ones it was issued for.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::CallbackError;
use crate::profiles::Profiles;
use crate::signing::{self, upload_callback, TokenKeys};
use crate::store::{CompletedUpload, UploadSource};

/// Without U+0000, which Postgres text cannot hold: one in a reported field must not cost the
/// upload its record.
fn storable(value: &str) -> String {
    value.replace('\0', "")
}

pub fn bind(
    fields: &BTreeMap<String, String>,
    token_keys: &TokenKeys,
    profiles: &Profiles,
    now: DateTime<Utc>,
) -> Result<CompletedUpload, CallbackError> {
    let token = fields
        .get(upload_callback::TOKEN_FIELD)
        .ok_or(CallbackError::MissingToken)?;
    let claims = signing::token::verify(token, token_keys).map_err(|_| CallbackError::UnknownToken)?;
    if fields.get("bucket") != Some(&claims.bucket) {
        return Err(CallbackError::Mismatch("bucket"));
    }
    if fields.get("object") != Some(&claims.key) {
        return Err(CallbackError::Mismatch("object key"));
    }
    let size = fields
        .get("size")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .ok_or_else(|| CallbackError::MalformedBody("size is not a number".into()))?;
    let text = |name: &str| Some(storable(fields.get(name)?)).filter(|v| !v.is_empty());
    let dimension = |name: &str| fields.get(name).and_then(|v| v.parse::<i32>().ok());

    // Custom variables: only those the profile allows, within their limits. A client can send
    // others with an SDK upload; they are dropped, not recorded.
    let allowed = profiles.get(&claims.profile).map(|p| &p.vars);
    let mut vars = serde_json::Map::new();
    for (name, value) in fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("x:").map(|n| (n, v)))
    {
        match allowed.and_then(|a| a.get(name)) {
            Some(max) if value.len() <= *max => {
                vars.insert(name.to_string(), serde_json::Value::String(storable(value)));
            }
            _ => tracing::warn!(upload_id = %claims.upload_id, var = name, "custom variable dropped"),
        }
    }
    let at = |secs: i64| Utc.timestamp_opt(secs, 0).single().unwrap_or(now);
    Ok(CompletedUpload {
        upload_id: claims.upload_id,
        user_id: claims.user_id,
        profile: claims.profile,
        bucket: claims.bucket,
        key: claims.key,
        size,
        etag: text("etag").map(|e| e.trim_matches('"').to_ascii_uppercase()),
        mime_type: text("mimeType"),
        image_width: dimension("width"),
        image_height: dimension("height"),
        image_format: text("format"),
        vars,
        client_ip: text("clientIp"),
        oss_request_id: text("reqId"),
        source: UploadSource::Callback,
        issued_at: at(claims.issued_at),
        expires_at: at(claims.expires_at),
        completed_at: now,
        rejected: None,
    })
}
