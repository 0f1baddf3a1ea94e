//! Settings of the built-in accounts (login limits, refresh tokens) and of trusted external identity
//! providers. The checks here run at load time, so a mistake stops start-up naming its key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use url::Url;

use super::{invalid, AppEnv, AuthSettings, ResolvedSecret, SecretSetting, SettingsError};

/// Failed-login limits (shared through Postgres, in memory on SQLite).
///
/// A stranger must not be able to lock a user out: failures are counted per (username, client
/// address) with a growing delay, and only a much higher ceiling applies to a username across all
/// addresses (a distributed guess) and to one address across usernames (a password spray).
#[derive(Debug, Clone, Deserialize)]
pub struct LoginLimitSettings {
    /// Failures one client address may make on one username before each further attempt must wait
    /// (1 s, 2 s, 4 s, ... up to `max_backoff_secs`).
    pub free_failures: u32,
    /// Longest wait between two attempts of one address on one username.
    pub max_backoff_secs: u64,
    /// Failed logins allowed per username, from any address, within `window_secs`.
    pub max_failures_per_account: u32,
    /// Failed logins allowed per client address, over any usernames, within `window_secs`; 0: off.
    pub max_failures_per_address: u32,
    /// Counting window of the ceilings; a (username, address) pair is forgotten after this long
    /// without a failure.
    pub window_secs: u64,
}

/// Self-service registration limits (`POST /v1/auth/register`); 0 turns a limit off.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisterLimitSettings {
    /// Accounts one client address may create per hour (all at once, then spread over the hour).
    pub per_address_per_hour: u32,
    /// Accounts all clients together may create per minute.
    pub total_per_minute: u32,
}

/// Bounds on Argon2 work (registration, login): each hash holds ~19 MiB for tens of ms.
#[derive(Debug, Clone, Deserialize)]
pub struct HashingSettings {
    /// Hashes computed at once; 0: one per CPU.
    pub concurrency: usize,
    /// Requests that may wait for a free slot; past that the answer is `503 server_busy`.
    pub queue: usize,
}

impl HashingSettings {
    pub fn concurrency(&self) -> usize {
        match self.concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

/// One trusted external issuer. Exactly one key source: `secret` (HS*), `public_key_pem` /
/// `public_key_file` (RS*, PS*, ES*), or `jwks_url`.
#[derive(Clone, Deserialize)]
pub struct ExternalIssuerSettings {
    /// The exact `iss` claim of its tokens.
    pub issuer: String,
    /// The `aud` claim its tokens must carry for us.
    pub audience: String,
    /// Accepted algorithms, a list or a comma-separated string (`"RS256"`, `"HS256"`, ...).
    #[serde(deserialize_with = "string_or_list")]
    pub algorithms: Vec<String>,
    /// HS* shared secret: from the environment (`APP__AUTH__EXTERNAL__<NAME>__SECRET`) or a file.
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    /// PEM public key (SubjectPublicKeyInfo), inline or in a file.
    pub public_key_pem: Option<String>,
    pub public_key_file: Option<PathBuf>,
    /// JWKS document URL, fetched on demand and cached.
    pub jwks_url: Option<Url>,
    /// Longest a fetched JWKS is used before it is fetched again.
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_secs: u64,
    /// Least time between two fetches (bounds refetches caused by unknown key ids).
    #[serde(default = "default_jwks_min_refetch")]
    pub jwks_min_refetch_secs: u64,
    /// Timeout of one JWKS request.
    #[serde(default = "default_jwks_timeout")]
    pub jwks_timeout_secs: u64,
    /// Clock skew tolerated on `exp`/`nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_jwks_max_age() -> u64 {
    3600
}
fn default_jwks_min_refetch() -> u64 {
    60
}
fn default_jwks_timeout() -> u64 {
    5
}
fn default_leeway() -> u64 {
    30
}

impl std::fmt::Debug for ExternalIssuerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuerSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_file", &self.secret_file)
            .field("public_key_file", &self.public_key_file)
            .field("jwks_url", &self.jwks_url.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

fn string_or_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items: Vec<String> = match Raw::deserialize(de)? {
        Raw::One(s) => s.split(',').map(|a| a.trim().to_string()).collect(),
        Raw::Many(v) => v.into_iter().map(|a| a.trim().to_string()).collect(),
    };
    Ok(items.into_iter().filter(|a: &String| !a.is_empty()).collect())
}

/// Where an external issuer's verification key comes from.
#[derive(Debug, Clone)]
pub enum ExternalKeySource {
    SharedSecret(ResolvedSecret),
    PublicKeyPem(String),
    Jwks(Url),
}

/// Algorithm families; an issuer's algorithms must all fit its key source.
fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}
fn is_rsa(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
    )
}
fn is_ec(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::ES256 | Algorithm::ES384)
}

impl ExternalIssuerSettings {
    /// Parsed algorithms; unknown names (and `none`, which jsonwebtoken does not even know) refused.
    pub fn algorithms(&self, name: &str) -> Result<Vec<Algorithm>, SettingsError> {
        let key = format!("auth.external.{name}.algorithms");
        if self.algorithms.is_empty() {
            return Err(invalid(&key, "list at least one algorithm, e.g. [\"RS256\"]"));
        }
        self.algorithms
            .iter()
            .map(|a| {
                Algorithm::from_str(a).map_err(|_| SettingsError::Invalid {
                    key: key.clone(),
                    reason: format!("unknown algorithm {a:?}: use HS256, RS256, ES256, ..."),
                })
            })
            .collect()
    }

    /// The one configured key source, its secret resolved.
    pub fn key_source(&self, name: &str, env: AppEnv) -> Result<ExternalKeySource, SettingsError> {
        let prefix = format!("auth.external.{name}");
        let has_secret = self.secret.is_some() || self.secret_file.is_some();
        let has_pem = self.public_key_pem.is_some() || self.public_key_file.is_some();
        let has_jwks = self.jwks_url.is_some();
        if [has_secret, has_pem, has_jwks].iter().filter(|x| **x).count() != 1 {
            return Err(invalid(
                &prefix,
                "set exactly one of `secret`/`secret_file`, `public_key_pem`/`public_key_file`, `jwks_url`",
            ));
        }
        if has_secret {
            let setting = SecretSetting {
                secret: self.secret.clone(),
                secret_file: self.secret_file.clone(),
            };
            return Ok(ExternalKeySource::SharedSecret(setting.resolve(
                &format!("{prefix}.secret"),
                env,
                None,
            )?));
        }
        if let Some(url) = &self.jwks_url {
            if !matches!(url.scheme(), "https" | "http") {
                return Err(invalid(&format!("{prefix}.jwks_url"), "must be an http(s) URL"));
            }
            if env == AppEnv::Production && url.scheme() != "https" {
                return Err(invalid(
                    &format!("{prefix}.jwks_url"),
                    "must use https in production",
                ));
            }
            return Ok(ExternalKeySource::Jwks(url.clone()));
        }
        let pem = match (&self.public_key_pem, &self.public_key_file) {
            (Some(pem), None) => pem.clone(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| SettingsError::Invalid {
                key: format!("{prefix}.public_key_file"),
                reason: format!("cannot read {}: {e}", path.display()),
            })?,
            _ => {
                return Err(invalid(
                    &prefix,
                    "set only one of `public_key_pem` and `public_key_file`",
                ))
            }
        };
        Ok(ExternalKeySource::PublicKeyPem(pem))
    }

    fn validate(&self, name: &str, env: AppEnv, own_issuer: &str) -> Result<(), SettingsError> {
        let prefix = format!("auth.external.{name}");
        if self.issuer.trim().is_empty() {
            return Err(invalid(&format!("{prefix}.issuer"), "must not be empty"));
        }
        if self.issuer == own_issuer {
            return Err(invalid(
                &format!("{prefix}.issuer"),
                "must differ from auth.issuer (our own access tokens)",
            ));
        }
        if self.audience.trim().is_empty() {
            return Err(invalid(&format!("{prefix}.audience"), "must not be empty"));
        }
        if self.jwks_min_refetch_secs == 0 || self.jwks_timeout_secs == 0 {
            return Err(invalid(
                &format!("{prefix}.jwks_min_refetch_secs"),
                "jwks_min_refetch_secs and jwks_timeout_secs must be positive",
            ));
        }
        let algorithms = self.algorithms(name)?;
        let source = self.key_source(name, env)?;
        // Algorithm confusion is prevented here: a secret only ever verifies HMAC, a public key only
        // ever verifies its own family, whatever the token's header says.
        let fits: fn(Algorithm) -> bool = match source {
            ExternalKeySource::SharedSecret(_) => is_hmac,
            ExternalKeySource::PublicKeyPem(_) | ExternalKeySource::Jwks(_) => |a| is_rsa(a) || is_ec(a),
        };
        if let Some(bad) = algorithms.iter().find(|a| !fits(**a)) {
            return Err(invalid(
                &format!("{prefix}.algorithms"),
                &format!("{bad:?} does not fit the configured key (secret: HS*; public key or JWKS: RS*, PS*, ES*)"),
            ));
        }
        if matches!(source, ExternalKeySource::PublicKeyPem(_))
            && algorithms.iter().any(|a| is_rsa(*a))
            && algorithms.iter().any(|a| is_ec(*a))
        {
            return Err(invalid(
                &format!("{prefix}.algorithms"),
                "one PEM key is either RSA or EC: do not mix RS*/PS* with ES*",
            ));
        }
        Ok(())
    }
}

/// Checks the account and external-issuer settings.
/// Every problem is pushed to `problems`, so one start reports them all.
pub(super) fn validate(auth: &AuthSettings, env: AppEnv, problems: &mut Vec<SettingsError>) {
    if auth.refresh_ttl_secs < 60 || auth.refresh_ttl_secs > 366 * 86_400 {
        problems.push(invalid(
            "auth.refresh_ttl_secs",
            "must be between 60 and 31622400",
        ));
    }
    let limit = &auth.login_limit;
    for (key, value) in [
        ("free_failures", u64::from(limit.free_failures)),
        (
            "max_failures_per_account",
            u64::from(limit.max_failures_per_account),
        ),
        ("window_secs", limit.window_secs),
        ("max_backoff_secs", limit.max_backoff_secs),
    ] {
        if value == 0 {
            problems.push(invalid(&format!("auth.login_limit.{key}"), "must be at least 1"));
        }
    }
    if auth.hashing.queue > 10_000 {
        problems.push(invalid("auth.hashing.queue", "must be at most 10000"));
    }
    let mut issuers = BTreeMap::new();
    for (name, issuer) in &auth.external {
        // The name is the namespace of the provider's user ids (`{name}:{sub}`).
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            problems.push(invalid(
                &format!("auth.external.{name}"),
                "provider names use [a-z0-9_-], at most 32 characters (they prefix the provider's user ids)",
            ));
        }
        if let Err(problem) = issuer.validate(name, env, &auth.issuer) {
            problems.push(problem);
        }
        if let Some(other) = issuers.insert(issuer.issuer.as_str(), name) {
            problems.push(invalid(
                &format!("auth.external.{name}.issuer"),
                &format!("the same issuer is already configured as auth.external.{other}"),
            ));
        }
    }
}
