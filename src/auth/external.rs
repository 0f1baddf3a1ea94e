//! Tokens of trusted external identity providers.
//!
//! A token is routed to its verifier by its (unverified) `iss`; the verifier then checks everything
//! again with that issuer's key. Each issuer accepts only its configured algorithms, and its key
//! type is fixed by configuration, so a token cannot choose how it is checked (no HS256-with-the-
//! public-key confusion); `alg: none` is not even parsed by jsonwebtoken.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use super::tokens::map_jwt_error;
use super::{AuthError, AuthUser};
use crate::settings::{ExternalIssuerSettings, ExternalKeySource, Settings, SettingsError};

enum IssuerKey {
    Static(DecodingKey),
    Jwks(Box<JwksCache>),
}

struct Issuer {
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    key: IssuerKey,
}

/// The configured external issuers, by `iss`.
#[derive(Default)]
pub struct ExternalIssuers {
    by_issuer: HashMap<String, Issuer>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// Longest `sub` accepted as a user id (it ends up in the ledger and in object keys).
const MAX_SUB_LEN: usize = 255;

impl ExternalIssuers {
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let mut by_issuer = HashMap::new();
        for (name, cfg) in &settings.auth.external {
            let issuer = Issuer::build(name, cfg, settings)?;
            by_issuer.insert(cfg.issuer.clone(), issuer);
        }
        Ok(ExternalIssuers { by_issuer })
    }

    /// Verifies a token of issuer `iss`; `None` when no such issuer is configured.
    pub async fn verify(&self, token: &str, iss: &str) -> Result<Option<AuthUser>, AuthError> {
        match self.by_issuer.get(iss) {
            Some(issuer) => issuer.verify(token).await.map(Some),
            None => Ok(None),
        }
    }
}

impl Issuer {
    fn build(name: &str, cfg: &ExternalIssuerSettings, settings: &Settings) -> Result<Self, SettingsError> {
        let algorithms = cfg.algorithms(name)?;
        let key = match cfg.key_source(name, settings.env)? {
            ExternalKeySource::SharedSecret(secret) => {
                IssuerKey::Static(DecodingKey::from_secret(secret.expose().as_bytes()))
            }
            ExternalKeySource::PublicKeyPem(pem) => {
                // Settings validation guarantees one family per PEM issuer.
                let is_ec = algorithms
                    .iter()
                    .all(|a| matches!(a, Algorithm::ES256 | Algorithm::ES384));
                let parsed = if is_ec {
                    DecodingKey::from_ec_pem(pem.as_bytes())
                } else {
                    DecodingKey::from_rsa_pem(pem.as_bytes())
                };
                IssuerKey::Static(parsed.map_err(|e| SettingsError::Invalid {
                    key: format!("auth.external.{name}.public_key_pem"),
                    reason: format!("not a PEM {} public key: {e}", if is_ec { "EC" } else { "RSA" }),
                })?)
            }
            ExternalKeySource::Jwks(url) => IssuerKey::Jwks(Box::new(
                JwksCache::new(
                    url,
                    Duration::from_secs(cfg.jwks_timeout_secs),
                    Duration::from_secs(cfg.jwks_max_age_secs),
                    Duration::from_secs(cfg.jwks_min_refetch_secs),
                )
                .map_err(|reason| SettingsError::Invalid {
                    key: format!("auth.external.{name}.jwks_url"),
                    reason,
                })?,
            )),
        };
        Ok(Issuer {
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            algorithms,
            leeway: cfg.leeway_secs,
            key,
        })
    }

    async fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Invalid("malformed token"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid("algorithm not accepted for this issuer"));
        }
        let key = match &self.key {
            IssuerKey::Static(key) => key.clone(),
            IssuerKey::Jwks(cache) => cache.key(header.kid.as_deref(), header.alg).await?,
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(map_jwt_error)?
            .claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty subject"));
        }
        if claims.sub.len() > MAX_SUB_LEN || claims.sub.chars().any(char::is_control) {
            return Err(AuthError::Invalid("unusable subject"));
        }
        // `sub` is the user id as the provider gives it, not namespaced: apps that move between
        // providers keep their users' ids. Built-in accounts use UUIDs, which providers don't reuse.
        Ok(AuthUser {
            user_id: claims.sub,
            issuer: self.issuer.clone(),
        })
    }
}
