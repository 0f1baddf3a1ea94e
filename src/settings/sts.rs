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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use crate::settings::Settings;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, crate::settings::SettingsError> {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(&dir, &env)
    }

    const ENABLED: [(&str, &str); 3] = [
        ("APP__STS__ENABLED", "true"),
        ("APP__STS__ROLE_ARN", "acs:ram::1234567890123456:role/oss-upload"),
        ("APP__STS__PROFILE", "avatar"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        ENABLED.iter().chain(extra).copied().collect()
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        load(pairs).unwrap_err().to_string()
    }

    #[test]
    fn disabled_by_default_and_enabled_with_dev_secret_locally() {
        let s = load(&[("APP__STS__ENABLED", "false")]).unwrap();
        assert!(!s.sts.enabled);
        // `local` turns it on against the emulator (config/local.toml).
        let s = load(&[]).unwrap();
        assert!(s.sts.enabled && s.sts.profile == "avatar");
        assert_eq!(s.sts.duration_secs, 3600);
        let s = load(&with(&[])).unwrap();
        assert!(s.sts.enabled);
        assert_eq!(
            s.sts.secret(s.env).unwrap().source,
            crate::settings::secret::SecretSource::DevelopmentDefault
        );
    }

    #[test]
    fn each_bad_value_names_its_key() {
        for (extra, key) in [
            (("APP__STS__DURATION_SECS", "899"), "sts.duration_secs"),
            (("APP__STS__DURATION_SECS", "3601"), "sts.duration_secs"),
            (("APP__STS__TIMEOUT_SECS", "0"), "sts.timeout_secs"),
            (
                ("APP__STS__REFRESH_BEFORE_SECS", "3600"),
                "sts.refresh_before_secs",
            ),
            (("APP__STS__ROLE_ARN", "oss-upload"), "sts.role_arn"),
            (("APP__STS__PROFILE", "nope"), "sts.profile"),
            (("APP__STS__ENDPOINT", "ftp://sts.example"), "sts.endpoint"),
        ] {
            let err = error_of(&with(&[extra]));
            assert!(err.contains(key), "{extra:?}: {err}");
        }
        let err = error_of(&[
            ("APP__STS__ENABLED", "false"),
            ("APP__PROFILES__AVATAR__STS", "true"),
        ]);
        assert!(err.contains("profiles.avatar.sts"), "{err}");
    }

    #[test]
    fn production_needs_the_real_key() {
        let prod = [
            ("APP_ENV", "production"),
            (
                "APP__AUTH__KEYS__K1__SECRET",
                "a-production-secret-of-decent-length-0123456789",
            ),
            (
                "APP__UPLOAD_TOKEN__KEYS__T1__SECRET",
                "another-production-secret-0123456789abcdef",
            ),
            ("APP__OSS__ACCESS_KEY_ID", "LTAI5tRealKey"),
            ("APP__OSS__ACCESS_KEY_SECRET", "oss-secret"),
            ("APP__CALLBACK__URL", "https://signer.example.com/v1/oss/callback"),
            ("APP__STS__ENDPOINT", "https://sts.cn-hangzhou.aliyuncs.com"),
        ];
        // Baseline: production settings without STS load, so the failures below are STS's own.
        load(&prod).unwrap();
        let enabled: Vec<_> = prod.iter().chain(ENABLED.iter()).copied().collect();
        assert!(error_of(&enabled).contains("sts.access_key_id"));
        let with_id: Vec<_> = enabled
            .iter()
            .copied()
            .chain([("APP__STS__ACCESS_KEY_ID", "LTAI5tStsCaller")])
            .collect();
        let err = error_of(&with_id);
        assert!(
            err.contains("sts.access_key_secret") && err.contains("APP__STS__ACCESS_KEY_SECRET"),
            "{err}"
        );
        let mut http = with_id.clone();
        http.push(("APP__STS__ACCESS_KEY_SECRET", "sts-secret"));
        load(&http).unwrap();
        http.push(("APP__STS__ENDPOINT", "http://sts.cn-hangzhou.aliyuncs.com"));
        assert!(error_of(&http).contains("sts.endpoint"));
    }
}
