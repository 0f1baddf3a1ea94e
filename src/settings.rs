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
mod unknown;
mod webhooks;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use url::Url;

pub use crate::emulator::EmulatorSettings;
pub use auth::{
    ExternalIssuerSettings, ExternalKeySource, HashingSettings, LoginLimitSettings, RegisterLimitSettings,
};
pub use dev_defaults::DevDefault;
pub use oss::{
    CallbackSettings, IssuanceSettings, OssSettings, ProfileSettings, QuotaSettings, ReconcileSettings,
    UploadTokenSettings, DEV_ACCESS_KEY_ID,
};
pub use secret::{ResolvedSecret, SecretSetting};
pub use sts::StsSettings;
pub use webhooks::{WebhookSettings, DEFAULT_RETRY_SCHEDULE_MS};

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
    #[error("unknown configuration key `{key}`: {hint}")]
    Unknown { key: String, hint: String },
    /// Everything wrong at once, so one start shows every fix to make.
    #[error("{} configuration problems:\n  - {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
    Many(Vec<SettingsError>),
}

impl SettingsError {
    /// One problem as itself, several as [`SettingsError::Many`].
    fn from_problems(mut problems: Vec<SettingsError>) -> SettingsError {
        if problems.len() == 1 {
            problems.remove(0)
        } else {
            SettingsError::Many(problems)
        }
    }
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
    /// Operator endpoints.
    #[serde(default)]
    pub ops: OpsSettings,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: WebhookSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OpsSettings {
    /// Serve `/metrics` on this address only (e.g. `127.0.0.1:9464`), not beside the API; unset:
    /// on the API port.
    pub metrics_addr: Option<SocketAddr>,
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
    /// Reverse proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed: the client address is
    /// the right-most hop that is not one of them. Empty: the socket's peer address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl ServerSettings {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// `trusted_proxies` parsed; a bare address is a single-host network.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, SettingsError> {
        self.trusted_proxies
            .iter()
            .map(|raw| {
                let raw = raw.trim();
                raw.parse::<ipnet::IpNet>()
                    .or_else(|_| raw.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| SettingsError::Invalid {
                        key: "server.trusted_proxies".into(),
                        reason: format!("{raw:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"),
                    })
            })
            .collect()
    }
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://path` (embedded default) or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// How long a write on the request path (a callback's record, a ledger batch) may take
    /// before the database counts as down and the write goes to the spool instead.
    pub write_timeout_ms: u64,
    /// How often a database known to be down is probed.
    pub probe_interval_ms: u64,
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("write_timeout_ms", &self.write_timeout_ms)
            .field("probe_interval_ms", &self.probe_interval_ms)
            .finish()
    }
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(1))
    }

    pub fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms.max(10))
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
    /// Self-service registration limits.
    pub register_limit: RegisterLimitSettings,
    /// Bounds on concurrent Argon2 work.
    pub hashing: HashingSettings,
    /// Trusted external identity providers by name (`[auth.external.<name>]`).
    #[serde(default)]
    pub external: std::collections::BTreeMap<String, ExternalIssuerSettings>,
}

impl Settings {
    /// Loads from `config_dir` and the given environment variables.
    pub fn load(config_dir: &Path, env: &HashMap<String, String>) -> Result<Settings, SettingsError> {
        let (app_env, config) = Self::layers(config_dir, env)?;
        let app_vars: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("APP__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let merged: serde_json::Value = config.clone().try_deserialize().unwrap_or_default();
        let mut ignored = Vec::new();
        let parsed: Result<Settings, _> =
            serde_ignored::deserialize(config, |path| ignored.push(path.to_string()));
        let mut problems: Vec<SettingsError> = ignored
            .iter()
            .map(|path| unknown::unknown_key(path, &merged, &app_vars))
            .collect();
        match parsed {
            Ok(mut settings) => {
                settings.env = app_env;
                problems.extend(settings.problems());
                if problems.is_empty() {
                    return Ok(settings);
                }
            }
            Err(err) => problems.insert(0, err.into()),
        }
        Err(SettingsError::from_problems(problems))
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
                .with_list_parse_key("callback.allowed_key_urls")
                .with_list_parse_key("callback.allowed_key_url_prefixes")
                .with_list_parse_key("server.cors_allowed_origins")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("webhooks.retry_schedule_ms")
                .source(Some(app_vars.clone())),
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

    /// Cross-field rules and production safety checks: every problem found, not just the first.
    fn problems(&self) -> Vec<SettingsError> {
        let production = self.env == AppEnv::Production;
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, reason: &str| {
            if !ok {
                problems.push(invalid(key, reason));
            }
        };
        check(
            !(production && self.emulator.enabled),
            "emulator.enabled",
            "the OSS emulator is for development only; set APP__EMULATOR__ENABLED=false in production",
        );
        let db = &self.database.url;
        check(
            db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://"),
            "database.url",
            &format!(
                "unsupported scheme in {:?}: use sqlite://PATH or postgres://...",
                redact_url(db)
            ),
        );
        check(
            self.database.max_connections > 0,
            "database.max_connections",
            "must be at least 1",
        );
        check(
            self.server.max_body_bytes > 0,
            "server.max_body_bytes",
            "must be positive",
        );
        check(
            (1..=86_400).contains(&self.auth.access_ttl_secs),
            "auth.access_ttl_secs",
            "must be between 1 and 86400",
        );
        check(
            !self.auth.current_kid.is_empty(),
            "auth.current_kid",
            "must not be empty",
        );
        check(
            self.callback.path.starts_with('/'),
            "callback.path",
            "must start with `/`",
        );
        if production {
            if let Some(url) = &self.callback.url {
                check(
                    url.scheme() == "https",
                    "callback.url",
                    "must be an https URL in production (OSS sends the upload's details to it)",
                );
            }
        }
        let mut results = vec![
            self.auth_keys().map(drop),
            self.upload_token_keys().map(drop),
            self.oss_secret().map(drop),
            self.server.trusted_proxy_nets().map(drop),
            self.sts.validate(self.env, &self.profiles),
            self.callback.validate(),
        ];
        results.extend(self.profiles.iter().map(|(name, p)| p.validate(name)));
        problems.extend(results.into_iter().filter_map(Result::err));
        if production && self.oss.access_key_id == DEV_ACCESS_KEY_ID {
            problems.push(SettingsError::Missing {
                key: "oss.access_key_id".into(),
                hint: "set APP__OSS__ACCESS_KEY_ID (the development placeholder is not used in production)"
                    .into(),
            });
        }
        if production && self.callback.url.is_none() {
            problems.push(SettingsError::Missing {
                key: "callback.url".into(),
                hint: "set APP__CALLBACK__URL to the public https URL OSS can reach".into(),
            });
        }
        auth::validate(&self.auth, self.env, &mut problems);
        self.webhooks.validate(self.env, &mut problems);
        problems
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

/// Shortest HMAC-SHA256 key accepted in production.
const MIN_HMAC_KEY_BYTES: usize = 32;

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
        let key = format!("{prefix}.{kid}.secret");
        let secret = setting.resolve(&key, env, None)?;
        // HS256 is only as strong as its key; RFC 7518 §3.2 asks for at least the hash's size.
        if env == AppEnv::Production && secret.expose().len() < MIN_HMAC_KEY_BYTES {
            return Err(SettingsError::Invalid {
                key,
                reason: format!(
                    "must be at least {MIN_HMAC_KEY_BYTES} bytes in production (e.g. `openssl rand -base64 48`)"
                ),
            });
        }
        out.push((kid.clone(), secret));
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
    fn a_part_smaller_than_oss_takes_is_refused() {
        let small = [("APP__PROFILES__VIDEO__PART_SIZE_BYTES", "102399")];
        let err = Settings::load(&config_dir(), &env(&small)).unwrap_err();
        assert!(
            err.to_string().contains("profiles.video.part_size_bytes"),
            "{err}"
        );
        let least = [("APP__PROFILES__VIDEO__PART_SIZE_BYTES", "102400")];
        assert!(Settings::load(&config_dir(), &env(&least)).is_ok());
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

    fn production(extra: &[(&'static str, &'static str)]) -> HashMap<String, String> {
        let mut pairs = vec![
            ("APP_ENV", "production"),
            ("APP__AUTH__KEYS__K1__SECRET", "0123456789abcdef0123456789abcdef"),
            (
                "APP__UPLOAD_TOKEN__KEYS__T1__SECRET",
                "fedcba9876543210fedcba9876543210",
            ),
            ("APP__OSS__ACCESS_KEY_ID", "LTAI5tExample"),
            ("APP__OSS__ACCESS_KEY_SECRET", "oss-secret"),
            ("APP__CALLBACK__URL", "https://api.example.com/v1/oss/callback"),
        ];
        pairs.extend_from_slice(extra);
        env(&pairs)
    }

    #[test]
    fn production_loads_with_strong_keys_and_https() {
        let s = Settings::load(&config_dir(), &production(&[])).expect("production settings load");
        assert_eq!(s.env, AppEnv::Production);
    }

    #[test]
    fn production_reports_every_problem_at_once() {
        let err = Settings::load(
            &config_dir(),
            &production(&[
                ("APP__AUTH__KEYS__K1__SECRET", "x"),
                ("APP__UPLOAD_TOKEN__KEYS__T1__SECRET", "short"),
                ("APP__CALLBACK__URL", "http://api.example.com/v1/oss/callback"),
                ("APP__SERVER__PROT", "9000"),
                ("APP__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("5 configuration problems"), "{err}");
        assert!(
            err.contains("auth.keys.k1.secret`: must be at least 32 bytes"),
            "{err}"
        );
        assert!(err.contains("upload_token.keys.t1.secret"), "{err}");
        assert!(err.contains("callback.url") && err.contains("https"), "{err}");
        assert!(
            err.contains("APP__SERVER__PROT") && err.contains("did you mean APP__SERVER__PORT?"),
            "{err}"
        );
        assert!(err.contains("\"not-an-ip\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_locally_too() {
        let err = Settings::load(&config_dir(), &env(&[("APP__ISSUANCE__RATE_PER_MINUT", "5")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("did you mean APP__ISSUANCE__RATE_PER_MINUTE?"),
            "{err}"
        );
        let err = Settings::load(
            &config_dir(),
            &env(&[("APP__PROFILES__AVATAR__QUOTA__FILES", "5")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("quota"), "{err}");
    }

    #[test]
    fn unknown_environment_is_rejected() {
        let err = Settings::load(&config_dir(), &env(&[("APP_ENV", "staging")])).unwrap_err();
        assert!(err.to_string().contains("APP_ENV"), "{err}");
    }
}
