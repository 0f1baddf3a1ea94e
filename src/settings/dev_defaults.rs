//! Which development stand-ins a configuration runs on: the start-up warning and `config check`
//! name them, with the variable that replaces each.

use super::secret::SecretSource;
use super::{Settings, DEV_ACCESS_KEY_ID};

/// A value that is a published development default, not the operator's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevDefault {
    /// The configuration key, e.g. `auth.keys.k1.secret`.
    pub key: String,
    /// The environment variable that sets it.
    pub variable: String,
}

fn variable(key: &str) -> String {
    format!("APP__{}", key.replace('.', "__").to_ascii_uppercase())
}

impl Settings {
    /// Every development default in use (only ever non-empty outside production).
    pub fn development_defaults(&self) -> Vec<DevDefault> {
        let mut secrets = Vec::new();
        for (ring, keys) in [
            ("auth.keys", self.auth_keys()),
            ("upload_token.keys", self.upload_token_keys()),
        ] {
            for (kid, secret) in keys.unwrap_or_default() {
                secrets.push((format!("{ring}.{kid}.secret"), secret.source));
            }
        }
        if let Ok(secret) = self.oss_secret() {
            secrets.push(("oss.access_key_secret".into(), secret.source));
        }
        if self.sts.enabled {
            if let Ok(secret) = self.sts.secret(self.env) {
                secrets.push(("sts.access_key_secret".into(), secret.source));
            }
        }
        let mut out: Vec<DevDefault> = secrets
            .into_iter()
            .filter(|(_, source)| *source == SecretSource::DevelopmentDefault)
            .map(|(key, _)| DevDefault {
                variable: variable(&key),
                key,
            })
            .collect();
        if self.oss.access_key_id == DEV_ACCESS_KEY_ID {
            out.push(DevDefault {
                key: "oss.access_key_id".into(),
                variable: variable("oss.access_key_id"),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_are_named_until_set() {
        let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        let s = Settings::load(&dir, &HashMap::new()).unwrap();
        let keys: Vec<String> = s.development_defaults().into_iter().map(|d| d.key).collect();
        assert!(keys.contains(&"auth.keys.k1.secret".to_string()), "{keys:?}");
        assert!(keys.contains(&"oss.access_key_secret".to_string()), "{keys:?}");
        let env = HashMap::from([(
            "APP__AUTH__KEYS__K1__SECRET".to_string(),
            "s3cret-value".to_string(),
        )]);
        let s = Settings::load(&dir, &env).unwrap();
        assert!(!s
            .development_defaults()
            .iter()
            .any(|d| d.key == "auth.keys.k1.secret"));
    }
}
