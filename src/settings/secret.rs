//! Secret values: from the environment or a file, never printed.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{AppEnv, SettingsError};

/// A secret as configured: inline (set through the environment) or a path to a file holding it.
#[derive(Clone, Default, Deserialize)]
pub struct SecretSetting {
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSetting")
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_file", &self.secret_file)
            .finish()
    }
}

/// Where a resolved secret came from; `config check` shows it instead of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Value,
    File,
    DevelopmentDefault,
}

#[derive(Clone)]
pub struct ResolvedSecret {
    pub value: SecretString,
    pub source: SecretSource,
}

impl std::fmt::Debug for ResolvedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "*** ({:?})", self.source)
    }
}

impl ResolvedSecret {
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

impl SecretSetting {
    /// Resolves the secret at configuration key `key` (e.g. `oss.access_key_secret`).
    ///
    /// A development default is accepted only outside production, so a forgotten variable in
    /// production stops the process instead of signing with a published key.
    pub fn resolve(
        &self,
        key: &str,
        env: AppEnv,
        dev_default: Option<&str>,
    ) -> Result<ResolvedSecret, SettingsError> {
        if let Some(value) = self.secret.as_ref().filter(|s| !s.expose_secret().is_empty()) {
            return Ok(ResolvedSecret {
                value: value.clone(),
                source: SecretSource::Value,
            });
        }
        if let Some(path) = &self.secret_file {
            let raw = std::fs::read_to_string(path).map_err(|e| SettingsError::Invalid {
                key: format!("{key}_file"),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            let trimmed = raw.trim_end_matches(['\n', '\r']);
            if trimmed.is_empty() {
                return Err(SettingsError::Invalid {
                    key: format!("{key}_file"),
                    reason: format!("{} is empty", path.display()),
                });
            }
            return Ok(ResolvedSecret {
                value: SecretString::from(trimmed.to_string()),
                source: SecretSource::File,
            });
        }
        let env_name = format!("APP__{}", key.replace('.', "__").to_ascii_uppercase());
        match (env, dev_default) {
            (AppEnv::Local, Some(dev)) => Ok(ResolvedSecret {
                value: SecretString::from(dev.to_string()),
                source: SecretSource::DevelopmentDefault,
            }),
            _ => Err(SettingsError::Missing {
                key: key.to_string(),
                hint: format!(
                    "set {env_name} or {env_name}_FILE (a development default is not used in production)"
                ),
            }),
        }
    }
}
