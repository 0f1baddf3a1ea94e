//! `[sts]`: the service as the apps' STS token server (AssumeRole with its own RAM access key).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{AppEnv, ProfileSettings, ResolvedSecret, SecretSetting, SettingsError, DEV_ACCESS_KEY_ID};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StsSettings {
    /// Serve `GET /v1/sts/credentials` and per-upload `sts` parts.
    pub enabled: bool,
    /// STS endpoint, e.g. `https://sts.cn-hangzhou.aliyuncs.com`.
    pub endpoint: Url,
    /// The RAM role assumed for every user; its own policy is the outer bound of what they get.
    pub role_arn: String,
    /// Lifetime of the credentials handed out by the route (900 ..= 3600).
    pub duration_secs: u32,
    /// Timeout of one AssumeRole call.
    pub timeout_secs: u64,
    /// AccessKey id of the RAM user allowed to call `sts:AssumeRole` on the role.
    pub access_key_id: String,
    /// Its secret: `APP__STS__ACCESS_KEY_SECRET` or `APP__STS__ACCESS_KEY_SECRET_FILE`.
    pub access_key_secret: Option<SecretString>,
    pub access_key_secret_file: Option<PathBuf>,
    /// The upload profile whose bucket and per-user key prefix the route's credentials cover.
    pub profile: String,
    /// Cached credentials are handed out again until this long before they expire.
    pub refresh_before_secs: u64,
}

impl Default for StsSettings {
    fn default() -> Self {
        StsSettings {
            enabled: false,
            endpoint: Url::parse("https://sts.cn-hangzhou.aliyuncs.com").expect("static URL"),
            role_arn: String::new(),
            duration_secs: Self::MAX_DURATION_SECS,
            timeout_secs: 5,
            access_key_id: DEV_ACCESS_KEY_ID.to_string(),
            access_key_secret: None,
            access_key_secret_file: None,
            profile: String::new(),
            refresh_before_secs: 300,
        }
    }
}

impl StsSettings {
    /// STS accepts 900 s at least; we cap at an hour, the default maximum session of a RAM role.
    pub const MIN_DURATION_SECS: u32 = 900;
    pub const MAX_DURATION_SECS: u32 = 3600;

    pub fn secret_setting(&self) -> SecretSetting {
        SecretSetting {
            secret: self.access_key_secret.clone(),
            secret_file: self.access_key_secret_file.clone(),
        }
    }

    /// The STS AccessKey secret (a development default only outside production).
    pub fn secret(&self, env: AppEnv) -> Result<ResolvedSecret, SettingsError> {
        self.secret_setting().resolve(
            "sts.access_key_secret",
            env,
            Some("dev-only-sts-access-key-secret"),
        )
    }

    /// Field and cross-field rules; nothing beyond the ranges is required while STS is disabled,
    /// so existing deployments need no new secret.
    pub fn validate(
        &self,
        env: AppEnv,
        profiles: &BTreeMap<String, ProfileSettings>,
    ) -> Result<(), SettingsError> {
        let bad = |field: &str, reason: String| SettingsError::Invalid {
            key: format!("sts.{field}"),
            reason,
        };
        let (min, max) = (Self::MIN_DURATION_SECS, Self::MAX_DURATION_SECS);
        if !(min..=max).contains(&self.duration_secs) {
            return Err(bad("duration_secs", format!("must be between {min} and {max}")));
        }
        if self.timeout_secs == 0 || self.timeout_secs > 60 {
            return Err(bad("timeout_secs", "must be between 1 and 60".into()));
        }
        // Otherwise every answer would already be due for refresh and the cache would never hit.
        if self.refresh_before_secs >= u64::from(self.duration_secs) {
            return Err(bad(
                "refresh_before_secs",
                "must be shorter than duration_secs".into(),
            ));
        }
        if !self.enabled {
            if let Some((name, _)) = profiles.iter().find(|(_, p)| p.sts) {
                return Err(SettingsError::Invalid {
                    key: format!("profiles.{name}.sts"),
                    reason: "needs [sts] enabled = true".into(),
                });
            }
            return Ok(());
        }
        match self.endpoint.scheme() {
            "https" => {}
            "http" if env != AppEnv::Production => {}
            _ => return Err(bad("endpoint", "must be an https:// URL".into())),
        }
        if self.endpoint.host_str().is_none() {
            return Err(bad("endpoint", "needs a host".into()));
        }
        if !self.role_arn.starts_with("acs:ram::") || !self.role_arn.contains(":role/") {
            return Err(bad(
                "role_arn",
                "set the RAM role ARN, e.g. `acs:ram::1234567890123456:role/oss-upload`".into(),
            ));
        }
        if self.access_key_id.trim().is_empty() {
            return Err(bad("access_key_id", "must not be empty".into()));
        }
        if env == AppEnv::Production && self.access_key_id == DEV_ACCESS_KEY_ID {
            return Err(SettingsError::Missing {
                key: "sts.access_key_id".into(),
                hint: "set APP__STS__ACCESS_KEY_ID (the development placeholder is not used in production)"
                    .into(),
            });
        }
        self.secret(env)?;
        if !profiles.contains_key(&self.profile) {
            return Err(bad(
                "profile",
                format!(
                    "name the upload profile the credentials cover (one of: {})",
                    profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(())
    }
}
