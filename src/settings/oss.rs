//! Settings for talking to OSS: the access key, the callback we host, upload tokens, profiles.

use std::collections::BTreeMap;
use std::collections::HashMap;

use serde::Deserialize;

use super::SecretSetting;
use crate::signing::SignatureVersion;

/// Placeholder access key id of the development settings; refused in production.
pub const DEV_ACCESS_KEY_ID: &str = "LTAI-local-development";

#[derive(Debug, Clone, Deserialize)]
pub struct OssSettings {
    /// AccessKey id used to sign policies and URLs.
    pub access_key_id: String,
    /// Its secret: `APP__OSS__ACCESS_KEY_SECRET` or `APP__OSS__ACCESS_KEY_SECRET_FILE`.
    pub access_key_secret: Option<secrecy::SecretString>,
    pub access_key_secret_file: Option<std::path::PathBuf>,
}

impl OssSettings {
    pub fn secret_setting(&self) -> SecretSetting {
        SecretSetting {
            secret: self.access_key_secret.clone(),
            secret_file: self.access_key_secret_file.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CallbackSettings {
    /// The `callbackUrl` OSS POSTs to: this service's public address plus `path`. Required in
    /// production; locally it defaults to the address the service binds.
    pub url: Option<url::Url>,
    /// `callbackHost`; defaults to the host of `url`.
    pub host: Option<String>,
    /// The route we serve the callback on, and the path OSS signs.
    pub path: String,
    /// Largest callback body accepted.
    pub max_body_bytes: usize,
    /// Public-key URLs we fetch from, exactly (OSS's published ones by default).
    pub allowed_key_urls: Vec<String>,
    /// Prefixes (ending in `/`) of further key URLs we fetch from; anything neither listed nor
    /// under a prefix is refused without a fetch.
    #[serde(default)]
    pub allowed_key_url_prefixes: Vec<String>,
    /// How long a fetched OSS public key stays cached.
    pub key_cache_ttl_secs: u64,
    /// Timeout of one public-key fetch.
    pub key_fetch_timeout_secs: u64,
    /// How long a failed fetch is remembered before that URL is tried again.
    pub key_failure_ttl_secs: u64,
    /// Public-key fetches in flight at once, over all URLs; more are refused at once.
    pub max_key_fetches: usize,
    /// Where verified callbacks wait while the database is unreachable.
    pub spool_dir: std::path::PathBuf,
    /// How often the spool is replayed into the database.
    pub spool_replay_interval_ms: u64,
    /// Optional pinned public key (PEM file); when set, no key is ever fetched.
    pub public_key_pem_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReconcileSettings {
    /// Run the reconciler in the background.
    pub enabled: bool,
    /// Seconds between passes.
    pub interval_secs: u64,
    /// Uploads looked at per pass.
    pub batch: u32,
    /// How long after a credential expires before its upload is reconciled (a late callback
    /// usually settles it first).
    pub grace_secs: i64,
    /// How long one instance holds the uploads it took.
    pub lease_secs: i64,
    /// Delete objects that break their profile (size, content type) from the bucket.
    pub delete_rejected: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssuanceSettings {
    /// Credentials one user may get per minute, sustained; 0 turns the limit off.
    pub rate_per_minute: u32,
    /// How many at once before the sustained rate applies.
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadTokenSettings {
    /// Key id of new upload tokens; older kids under `keys` still verify.
    pub current_kid: String,
    #[serde(default)]
    pub keys: HashMap<String, SecretSetting>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProfileSettings {
    pub bucket: String,
    /// Region id such as `cn-hangzhou` (not `oss-cn-hangzhou`).
    pub region: String,
    /// Service endpoint; defaults to `https://oss-{region}.aliyuncs.com`.
    pub endpoint: Option<url::Url>,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (local emulators).
    #[serde(default)]
    pub path_style: bool,
    /// Object key template: `{user_id}`, `{upload_id}`, `{profile}`, `{yyyy}`, `{mm}`, `{dd}`, `{ext}`.
    pub key_template: String,
    pub max_size_bytes: u64,
    /// Exact types or `type/*` (which never admits a scriptable type such as `image/svg+xml`).
    pub content_types: Vec<String>,
    /// Credential lifetime.
    pub expires_secs: u64,
    pub signature_version: SignatureVersion,
    /// `application/json` or `application/x-www-form-urlencoded`.
    pub callback_body_type: String,
    /// Record every issued credential as a pending upload (for confirmation and reconciliation).
    #[serde(default = "default_true")]
    pub ledger: bool,
    /// Custom callback variables the client may set, with the longest value allowed (bytes).
    #[serde(default)]
    pub vars: BTreeMap<String, usize>,
    /// Add STS credentials scoped to the one issued key to `POST /v1/uploads` answers.
    #[serde(default)]
    pub sts: bool,
    /// Read each upload's first bytes once it lands and reject it when they contradict its
    /// declared type (an HTML page sent as `image/png`): one ranged GET per completion.
    #[serde(default = "default_true")]
    pub check_content: bool,
    /// What one user may upload under this profile (`[profiles.NAME.quota]`); unset: no limit.
    #[serde(default)]
    pub quota: QuotaSettings,
    /// Files larger than `part_size_bytes` go up as resumable (multipart) uploads: `POST
    /// /v1/uploads` says so, and the custom signer signs their initiate, parts, list, complete
    /// and abort.
    #[serde(default)]
    pub multipart: bool,
    /// Part size told to apps, at least OSS's minimum part (100 KiB).
    #[serde(default = "default_part_size")]
    pub part_size_bytes: u64,
}

fn default_part_size() -> u64 {
    1024 * 1024
}

/// OSS refuses a Complete whose non-last part is smaller than 100 KiB, or any part over 5 GiB.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Per-user upload quotas of a profile, counted from the uploads table: completed uploads at
/// their size, pending credentials at their declared size; rejected and abandoned ones not at all.
/// Days are UTC days of issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    pub files_per_day: Option<u64>,
    pub bytes_per_day: Option<u64>,
    pub bytes_total: Option<u64>,
}

impl QuotaSettings {
    pub fn is_set(&self) -> bool {
        *self != QuotaSettings::default()
    }
}

fn default_true() -> bool {
    true
}

/// OSS keeps a V4 credential at most 7 days.
const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

impl ProfileSettings {
    /// Field checks; the key template itself is parsed when the profiles are built.
    pub fn validate(&self, name: &str) -> Result<(), super::SettingsError> {
        let bad = |field: &str, reason: &str| super::SettingsError::Invalid {
            key: format!("profiles.{name}.{field}"),
            reason: reason.to_string(),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("", "profile names use [A-Za-z0-9_-]"));
        }
        if self.bucket.len() < 3 || self.bucket.len() > 63 {
            return Err(bad("bucket", "bucket names are 3 to 63 characters"));
        }
        if self.region.is_empty() || self.region.starts_with("oss-") {
            return Err(bad(
                "region",
                "use the region id, e.g. `cn-hangzhou`, not `oss-cn-hangzhou`",
            ));
        }
        if self.max_size_bytes == 0 {
            return Err(bad("max_size_bytes", "must be positive"));
        }
        if self.content_types.is_empty() || self.content_types.iter().any(|t| !t.contains('/')) {
            return Err(bad(
                "content_types",
                "list MIME types such as `image/jpeg` or `image/*`",
            ));
        }
        if self.expires_secs < 60 || self.expires_secs > MAX_EXPIRES_SECS {
            return Err(bad("expires_secs", "must be between 60 and 604800 (7 days)"));
        }
        if !matches!(
            self.callback_body_type.as_str(),
            "application/json" | "application/x-www-form-urlencoded"
        ) {
            return Err(bad(
                "callback_body_type",
                "use application/json or application/x-www-form-urlencoded",
            ));
        }
        if self.quota.is_set() && !self.ledger {
            return Err(bad(
                "quota",
                "quotas count issued credentials in the ledger: remove `ledger = false`",
            ));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size_bytes) {
            return Err(bad(
                "part_size_bytes",
                "OSS parts are 102400 bytes (100 KiB) to 5 GiB",
            ));
        }
        if self.vars.len() > 8 {
            return Err(bad(
                "vars",
                "at most 8 custom variables (OSS allows 10, two are ours)",
            ));
        }
        for (var, max) in &self.vars {
            if var.is_empty()
                || !var
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad("vars", "variable names use [a-z0-9_] (OSS lowercases them)"));
            }
            if *max == 0 || *max > 256 {
                return Err(bad("vars", "a variable's maximum length is 1 to 256 bytes"));
            }
        }
        Ok(())
    }
}

impl CallbackSettings {
    /// The key URLs the verifier may fetch.
    pub fn key_url_allow_list(&self) -> crate::signing::callback::KeyUrlAllowList {
        crate::signing::callback::KeyUrlAllowList {
            exact: self.allowed_key_urls.clone(),
            prefixes: self.allowed_key_url_prefixes.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), super::SettingsError> {
        let invalid = |key: &str, reason: String| super::SettingsError::Invalid {
            key: format!("callback.{key}"),
            reason,
        };
        if let Some(url) = self
            .allowed_key_urls
            .iter()
            .find(|u| !crate::signing::callback::is_canonical_key_url(u))
        {
            return Err(invalid(
                "allowed_key_urls",
                format!(
                    "{url:?} is not a plain http(s) URL (no query, fragment, userinfo, `%` or dot segments)"
                ),
            ));
        }
        if let Some(prefix) = self
            .allowed_key_url_prefixes
            .iter()
            .find(|p| !p.ends_with('/') || !crate::signing::callback::is_canonical_key_url(p))
        {
            return Err(invalid(
                "allowed_key_url_prefixes",
                format!("{prefix:?} must be a plain http(s) URL ending in `/`"),
            ));
        }
        if self.max_key_fetches == 0 {
            return Err(invalid("max_key_fetches", "must be at least 1".into()));
        }
        Ok(())
    }
}
