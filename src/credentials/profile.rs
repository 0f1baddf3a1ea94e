//! Upload profiles, validated once at start-up from the settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;

use super::key_template::KeyTemplate;
use crate::settings::{ProfileSettings, Settings, SettingsError, SignatureVersionSetting};
use crate::signing::CallbackBodyType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    V1,
    V4,
}

#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub bucket: String,
    pub region: String,
    /// Where uploads go: `https://bucket.oss-region.aliyuncs.com` (or `endpoint/bucket`).
    pub host: String,
    pub key_template: KeyTemplate,
    pub max_size_bytes: u64,
    settings: ProfileSettings,
    pub expires: Duration,
    pub signature_version: SignatureVersion,
    pub callback_body_type: CallbackBodyType,
    /// Allowed custom variables and their maximum length.
    pub vars: BTreeMap<String, usize>,
    /// Whether issued credentials go into the ledger.
    pub ledger: bool,
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
        let host = s
            .bucket_url()
            .ok_or_else(|| invalid("endpoint", "needs a host".into()))?;
        Ok(Profile {
            name: name.to_string(),
            bucket: s.bucket.clone(),
            region: s.region.clone(),
            host,
            key_template,
            max_size_bytes: s.max_size_bytes,
            settings: s.clone(),
            expires: Duration::seconds(s.expires_secs as i64),
            signature_version: match s.signature_version {
                SignatureVersionSetting::V1 => SignatureVersion::V1,
                SignatureVersionSetting::V4 => SignatureVersion::V4,
            },
            callback_body_type: CallbackBodyType::parse(&s.callback_body_type)
                .ok_or_else(|| invalid("callback_body_type", "unsupported".into()))?,
            vars: s.vars.clone(),
            ledger: s.ledger,
            part_size: s.multipart.then_some(s.part_size_bytes),
        })
    }

    /// Allowed content types: exact, or `type/*`.
    pub fn content_types(&self) -> &[String] {
        &self.settings.content_types
    }

    /// Whether answers carry STS credentials for the one key.
    pub fn sts(&self) -> bool {
        self.settings.sts
    }

    /// Multipart only where the profile allows it and the file needs more than one part: a
    /// smaller file is simpler and cheaper as one PUT (ali-oss decides the same way).
    pub fn upload_method(&self, size: u64) -> UploadMethod {
        match self.part_size {
            Some(part_size) if size > part_size => UploadMethod::Multipart { part_size },
            _ => UploadMethod::Single,
        }
    }

    /// `content_type` is already normalised (lowercase, no parameters).
    pub fn allows_content_type(&self, content_type: &str) -> bool {
        self.settings.allows_content_type(content_type)
    }
}

/// Lowercase MIME essence, parameters dropped: `Image/JPEG; q=1` -> `image/jpeg`.
pub fn normalise_content_type(raw: &str) -> Option<String> {
    let essence = raw.split(';').next()?.trim().to_ascii_lowercase();
    let (major, minor) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(major) && token(minor)).then_some(essence)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_normalise() {
        assert_eq!(
            normalise_content_type("Image/JPEG; q=1").as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(normalise_content_type("image"), None);
        assert_eq!(normalise_content_type("image/"), None);
        assert_eq!(normalise_content_type("a b/c"), None);
    }
}
