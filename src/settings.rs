//! Typed, layered configuration.
//!
//! Layers, later ones winning: `config/default.toml`, `config/{APP_ENV}.toml` (optional), then
//! environment variables `APP__SECTION__KEY` (and `DATABASE_URL` for `database.url`). Secrets never
//! live in committed files: each comes from the environment or from a `*_file` path, and only outside
//! `production` may a development default stand in for a missing one.

mod auth;
mod dev_defaults;
mod emulator;
mod oss;
mod secret;
mod sts;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use url::Url;

pub use auth::{ExternalIssuerSettings, ExternalKeySource, LoginLimitSettings};
pub use dev_defaults::DevDefault;
pub use emulator::EmulatorSettings;
pub use oss::{
    CallbackSettings, IssuanceSettings, OssSettings, ProfileSettings, ReconcileSettings,
    SignatureVersionSetting, UploadTokenSettings, DEV_ACCESS_KEY_ID,
};
pub use secret::{ResolvedSecret, SecretSetting};
pub use sts::StsSettings;

/// Which deployment the process runs as; selected by `APP_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Local,
    Production,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Local => "local",
            AppEnv::Production => "production",
        }
    }

    fn parse(raw: &str) -> Result<Self, SettingsError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "local" => Ok(AppEnv::Local),
            "production" => Ok(AppEnv::Production),
            other => Err(SettingsError::Invalid {
                key: "APP_ENV".into(),
                reason: format!("unknown environment {other:?}: use `local` or `production`"),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("configuration key `{key}` is missing: {hint}")]
    Missing { key: String, hint: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(skip_deserializing, default = "default_env")]
    pub env: AppEnv,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub oss: OssSettings,
    pub callback: CallbackSettings,
    pub upload_token: UploadTokenSettings,
    pub issuance: IssuanceSettings,
    pub reconcile: ReconcileSettings,
    /// STS temporary credentials for the SDKs (off by default).
    #[serde(default)]
    pub sts: StsSettings,
    /// Upload profiles by name.
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, ProfileSettings>,
    /// The built-in OSS emulator (development only).
    #[serde(default)]
    pub emulator: EmulatorSettings,
}

fn default_env() -> AppEnv {
    AppEnv::Local
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    /// Largest request body accepted anywhere, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests may run after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Browser origins allowed by CORS (`https://app.example.com`); empty: CORS off.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
}

impl ServerSettings {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://path` (embedded default) or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .finish()
    }
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log shippers; defaults by environment.
    pub format: Option<LogFormat>,
    /// A `tracing` filter directive such as `info` or `upload_signer=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// `iss` of the access tokens we mint.
    pub issuer: String,
    /// `aud` of the access tokens we mint.
    pub audience: String,
    /// Key id written in the JWT header of new tokens.
    pub current_kid: String,
    /// Lifetime of an access token.
    pub access_ttl_secs: u64,
    /// Signing secrets by key id (HS256). Values come from the environment
    /// (`APP__AUTH__KEYS__<KID>__SECRET`) or a `secret_file`.
    #[serde(default)]
    pub keys: HashMap<String, SecretSetting>,
    /// Whether `POST /v1/auth/register` is open.
    pub allow_registration: bool,
    /// Lifetime of a refresh token (each rotation issues a new one with a fresh lifetime).
    pub refresh_ttl_secs: u64,
    /// Failed-login limits.
    pub login_limit: LoginLimitSettings,
    /// Trusted external identity providers by name (`[auth.external.<name>]`).
    #[serde(default)]
    pub external: std::collections::BTreeMap<String, ExternalIssuerSettings>,
}

impl Settings {
    /// Loads from `config_dir` and the given environment variables.
    pub fn load(config_dir: &Path, env: &HashMap<String, String>) -> Result<Settings, SettingsError> {
        let (app_env, layers) = Self::layers(config_dir, env)?;
        let mut settings: Settings = layers.try_deserialize()?;
        settings.env = app_env;
        settings.validate()?;
        Ok(settings)
    }

    /// The merged layers before typing: what `config check` prints (with secrets redacted).
    pub fn layers(
        config_dir: &Path,
        env: &HashMap<String, String>,
    ) -> Result<(AppEnv, Config), SettingsError> {
        let app_env = AppEnv::parse(env.get("APP_ENV").map(String::as_str).unwrap_or(""))?;
        let default_file = config_dir.join("default.toml");
        let mut builder = Config::builder()
            .add_source(
                File::from(default_file.as_path())
                    .format(FileFormat::Toml)
                    .required(true),
            )
            .add_source(
                File::from(config_dir.join(format!("{}.toml", app_env.as_str())))
                    .format(FileFormat::Toml)
                    .required(false),
            );
        let app_vars: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("APP__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("callback.allowed_key_url_prefixes")
                .with_list_parse_key("server.cors_allowed_origins")
                .source(Some(app_vars)),
        );
        if let Some(url) = env.get("DATABASE_URL").filter(|u| !u.is_empty()) {
            builder = builder.set_override("database.url", url.as_str())?;
        }
        Ok((app_env, builder.build()?))
    }

    /// Loads from `./config` (or `APP_CONFIG_DIR`) and the process environment.
    pub fn from_process_env() -> Result<Settings, SettingsError> {
        let (dir, env) = process_env();
        Settings::load(&dir, &env)
    }

    /// Cross-field rules and production safety checks.
    fn validate(&self) -> Result<(), SettingsError> {
        if self.env == AppEnv::Production && self.emulator.enabled {
            return Err(invalid(
                "emulator.enabled",
                "the OSS emulator is for development only; set APP__EMULATOR__ENABLED=false in production",
            ));
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(SettingsError::Invalid {
                key: "database.url".into(),
                reason: format!(
                    "unsupported scheme in {:?}: use sqlite://PATH or postgres://...",
                    redact_url(db)
                ),
            });
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.server.max_body_bytes == 0 {
            return Err(invalid("server.max_body_bytes", "must be positive"));
        }
        if self.auth.access_ttl_secs == 0 || self.auth.access_ttl_secs > 86_400 {
            return Err(invalid("auth.access_ttl_secs", "must be between 1 and 86400"));
        }
        if self.auth.current_kid.is_empty() {
            return Err(invalid("auth.current_kid", "must not be empty"));
        }
        self.auth_keys()?;
        self.upload_token_keys()?;
        self.oss_secret()?;
        if self.env == AppEnv::Production && self.oss.access_key_id == DEV_ACCESS_KEY_ID {
            return Err(SettingsError::Missing {
                key: "oss.access_key_id".into(),
                hint: "set APP__OSS__ACCESS_KEY_ID (the development placeholder is not used in production)"
                    .into(),
            });
        }
        if self.env == AppEnv::Production && self.callback.url.is_none() {
            return Err(SettingsError::Missing {
                key: "callback.url".into(),
                hint: "set APP__CALLBACK__URL to the public https URL OSS can reach".into(),
            });
        }
        if !self.callback.path.starts_with('/') {
            return Err(invalid("callback.path", "must start with `/`"));
        }
        for (name, profile) in &self.profiles {
            profile.validate(name)?;
        }
        auth::validate(&self.auth, self.env)?;
        self.sts.validate(self.env, &self.profiles)?;
        Ok(())
    }

    /// Access-token signing secrets by key id; the current kid must resolve.
    pub fn auth_keys(&self) -> Result<Vec<(String, ResolvedSecret)>, SettingsError> {
        resolve_key_ring(
            "auth.keys",
            &self.auth.current_kid,
            &self.auth.keys,
            self.env,
            "dev-only-access-token-secret",
        )
    }

    /// Upload-token MAC secrets by key id; the current kid must resolve.
    pub fn upload_token_keys(&self) -> Result<Vec<(String, ResolvedSecret)>, SettingsError> {
        resolve_key_ring(
            "upload_token.keys",
            &self.upload_token.current_kid,
            &self.upload_token.keys,
            self.env,
            "dev-only-upload-token-secret",
        )
    }

    /// Without a configured `callback.url`, OSS (locally: the emulator) calls this process at the
    /// address it bound.
    pub fn default_callback_url_to(&mut self, port: u16) {
        if self.callback.url.is_none() {
            let host = if self.server.host.is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                SocketAddr::new(self.server.host, port).ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            self.callback.url = Url::parse(&format!("http://{host}:{port}{}", self.callback.path)).ok();
        }
    }

    /// The key ring that signs and verifies upload tokens.
    pub fn upload_token_key_ring(&self) -> Result<crate::signing::TokenKeys, SettingsError> {
        let keys = self.upload_token_keys()?;
        let current = &self.upload_token.current_kid;
        let find = |kid: &str| {
            keys.iter()
                .find(|(k, _)| k == kid)
                .map(|(_, s)| s.expose().as_bytes())
        };
        let others: Vec<(&str, &[u8])> = keys
            .iter()
            .filter(|(k, _)| k != current)
            .map(|(k, s)| (k.as_str(), s.expose().as_bytes()))
            .collect();
        crate::signing::TokenKeys::new(current, find(current).unwrap_or_default(), &others).map_err(|e| {
            SettingsError::Invalid {
                key: "upload_token".into(),
                reason: e.to_string(),
            }
        })
    }

    /// The OSS AccessKey secret.
    pub fn oss_secret(&self) -> Result<ResolvedSecret, SettingsError> {
        self.oss.secret_setting().resolve(
            "oss.access_key_secret",
            self.env,
            Some("dev-only-oss-access-key-secret"),
        )
    }
}

/// The configuration directory (`./config`, or `APP_CONFIG_DIR`) and the process environment.
pub fn process_env() -> (PathBuf, HashMap<String, String>) {
    let env: HashMap<String, String> = std::env::vars().collect();
    let dir = env
        .get("APP_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"));
    (dir, env)
}

/// Resolves every configured key of a ring, plus the current kid (from its development default
/// outside production when it is not configured).
fn resolve_key_ring(
    prefix: &str,
    current: &str,
    keys: &HashMap<String, SecretSetting>,
    env: AppEnv,
    dev_default: &str,
) -> Result<Vec<(String, ResolvedSecret)>, SettingsError> {
    let mut out = Vec::new();
    for (kid, setting) in keys {
        out.push((
            kid.clone(),
            setting.resolve(&format!("{prefix}.{kid}.secret"), env, None)?,
        ));
    }
    if !keys.contains_key(current) {
        let key = format!("{prefix}.{current}.secret");
        out.push((
            current.to_string(),
            SecretSetting::default().resolve(&key, env, Some(dev_default))?,
        ));
    }
    Ok(out)
}

fn invalid(key: &str, reason: &str) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_for_local() {
        let s = Settings::load(&config_dir(), &env(&[])).expect("defaults load");
        assert_eq!(s.env, AppEnv::Local);
        assert_eq!(s.server.port, 8080);
        assert!(s.database.url.starts_with("sqlite:"));
    }

    #[test]
    fn database_url_variable_overrides_file() {
        let s = Settings::load(&config_dir(), &env(&[("DATABASE_URL", "postgres://u:pw@h/db")])).unwrap();
        assert_eq!(s.database.url, "postgres://u:pw@h/db");
        assert!(!format!("{:?}", s.database).contains("pw"));
    }

    #[test]
    fn malformed_value_names_its_key() {
        let err = Settings::load(&config_dir(), &env(&[("APP__SERVER__PORT", "eighty")])).unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
    }

    #[test]
    fn production_refuses_development_secret() {
        let err = Settings::load(&config_dir(), &env(&[("APP_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("auth.keys."), "{err}");
    }

    #[test]
    fn emulator_is_on_locally_and_refused_in_production() {
        let s = Settings::load(&config_dir(), &env(&[])).unwrap();
        assert!(s.emulator.enabled);
        let err = Settings::load(
            &config_dir(),
            &env(&[("APP_ENV", "production"), ("APP__EMULATOR__ENABLED", "true")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("emulator.enabled"), "{err}");
    }

    #[test]
    fn unknown_environment_is_rejected() {
        let err = Settings::load(&config_dir(), &env(&[("APP_ENV", "staging")])).unwrap_err();
        assert!(err.to_string().contains("APP_ENV"), "{err}");
    }
}
