//! Upload profiles, validated once at start-up from the settings: the one place that knows what
//! a profile allows (content types, size), where its objects live and how their keys are made.

pub mod content_type;
mod key_template;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;

pub use key_template::{encode_user_id, extension_for, KeyContext, KeyTemplate, MAX_KEY_BYTES};

use crate::settings::{ProfileSettings, Settings, SettingsError};
use crate::signing::{CallbackBodyType, SignatureVersion};

#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub bucket: String,
    pub region: String,
    /// Where uploads go: `https://bucket.oss-region.aliyuncs.com` (or `endpoint/bucket`).
    pub host: String,
    /// The endpoint the SDKs take: the configured one, or OSS's public one for the region.
    pub endpoint: String,
    pub key_template: KeyTemplate,
    pub max_size_bytes: u64,
    /// Exact types or `type/*` (see `content_type::allowed`).
    pub content_types: Vec<String>,
    pub expires: Duration,
    pub signature_version: SignatureVersion,
    pub callback_body_type: CallbackBodyType,
    /// Allowed custom variables and their maximum length.
    pub vars: BTreeMap<String, usize>,
    /// Whether issued credentials go into the ledger.
    pub ledger: bool,
    /// Whether answers carry STS credentials for the one key.
    pub sts: bool,
    /// Whether each upload's first bytes are read to check its declared type.
    pub check_content: bool,
    /// Part size for resumable uploads; `None`: the profile takes single uploads only.
    pub part_size: Option<u64>,
}

/// How the app should send a file: the `upload` of `POST /v1/uploads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum UploadMethod {
    /// One PUT, PostObject form or presigned URL.
    Single,
    /// A resumable upload in parts of `part_size` bytes (the last one smaller).
    Multipart { part_size: u64 },
}

impl Profile {
    fn from_settings(name: &str, s: &ProfileSettings) -> Result<Profile, SettingsError> {
        let invalid = |field: &str, reason: String| SettingsError::Invalid {
            key: format!("profiles.{name}.{field}"),
            reason,
        };
        let key_template = KeyTemplate::parse(&s.key_template).map_err(|e| invalid("key_template", e))?;
        let default_endpoint = format!("https://oss-{}.aliyuncs.com", s.region);
        let endpoint = match &s.endpoint {
            Some(url) => url.clone(),
            None => url::Url::parse(&default_endpoint).map_err(|e| invalid("region", e.to_string()))?,
        };
        let host = bucket_url(&endpoint, &s.bucket, s.path_style)
            .ok_or_else(|| invalid("endpoint", "needs a host".into()))?;
        Ok(Profile {
            name: name.to_string(),
            bucket: s.bucket.clone(),
            region: s.region.clone(),
            host,
            endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
            key_template,
            max_size_bytes: s.max_size_bytes,
            content_types: s.content_types.clone(),
            expires: Duration::seconds(s.expires_secs as i64),
            signature_version: s.signature_version,
            callback_body_type: CallbackBodyType::parse(&s.callback_body_type)
                .ok_or_else(|| invalid("callback_body_type", "unsupported".into()))?,
            vars: s.vars.clone(),
            ledger: s.ledger,
            sts: s.sts,
            check_content: s.check_content,
            part_size: s.multipart.then_some(s.part_size_bytes),
        })
    }

    /// `content_type` is already normalised (lowercase, no parameters).
    pub fn allows_content_type(&self, content_type: &str) -> bool {
        content_type::allowed(&self.content_types, content_type)
    }

    /// Why a stored object breaks this profile, if it does: the post-upload check for flows whose
    /// policy OSS cannot enforce (presigned PUT, STS).
    pub fn violation(&self, size: i64, content_type: Option<&str>) -> Option<String> {
        if size < 0 || size as u64 > self.max_size_bytes {
            return Some(format!(
                "size {size} is over the profile's limit of {} bytes",
                self.max_size_bytes
            ));
        }
        let essence = content_type.map(content_type::essence).unwrap_or_default();
        if !self.allows_content_type(&essence) {
            return Some(format!(
                "content type {essence:?} is not allowed for this profile"
            ));
        }
        None
    }

    /// The URL of an object in this profile's bucket.
    pub fn object_url(&self, key: &str) -> String {
        format!(
            "{}/{}",
            self.host,
            percent_encoding::utf8_percent_encode(key, KEY_PATH)
        )
    }

    /// Multipart only where the profile allows it and the file needs more than one part: a
    /// smaller file is simpler and cheaper as one PUT (ali-oss decides the same way).
    pub fn upload_method(&self, size: u64) -> UploadMethod {
        match self.part_size {
            Some(part_size) if size > part_size => UploadMethod::Multipart { part_size },
            _ => UploadMethod::Single,
        }
    }
}

/// The bucket's base URL: `https://bucket.oss-region.aliyuncs.com`, or `endpoint/bucket` in path
/// style (local emulators). `None` if the endpoint has no host.
fn bucket_url(endpoint: &url::Url, bucket: &str, path_style: bool) -> Option<String> {
    let base = endpoint.as_str().trim_end_matches('/');
    if path_style {
        return Some(format!("{base}/{bucket}"));
    }
    let host = endpoint.host_str()?;
    let port = endpoint.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{}://{bucket}.{host}{port}", endpoint.scheme()))
}

/// Path-segment encoding for object URLs; `/` separates segments and stays.
const KEY_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone)]
pub struct Profiles {
    by_name: Arc<BTreeMap<String, Arc<Profile>>>,
}

impl Profiles {
    pub fn from_settings(settings: &Settings) -> Result<Profiles, SettingsError> {
        let mut by_name = BTreeMap::new();
        for (name, s) in &settings.profiles {
            by_name.insert(name.clone(), Arc::new(Profile::from_settings(name, s)?));
        }
        Ok(Profiles {
            by_name: Arc::new(by_name),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Profile>> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.by_name.values().map(Arc::as_ref)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
