//! Tokens of trusted external identity providers.
//!
//! A token is routed to its verifier by its (unverified) `iss`; the verifier then checks everything
//! again with that issuer's key. Each issuer accepts only its configured algorithms, and its key
//! type is fixed by configuration, so a token cannot choose how it is checked (no HS256-with-the-
//! public-key confusion); `alg: none` is not even parsed by jsonwebtoken.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use super::tokens::map_jwt_error;
use super::{AuthError, AuthUser};
use crate::settings::{ExternalIssuerSettings, ExternalKeySource, Settings, SettingsError};

enum IssuerKey {
    Static(DecodingKey),
    Jwks(Arc<JwksCache>),
}

struct Issuer {
    /// The provider's configured name: the namespace of its user ids.
    name: String,
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

/// Longest `sub` accepted (with its provider's name it becomes the user id, in the ledger and in
/// object keys).
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

/// The user id of a provider's subject. A provider chooses its `sub` freely, so it is confined to
/// the provider's own namespace: built-in ids (UUIDs) have no `:`, and provider names are unique,
/// so no provider can name a built-in account or another provider's user.
pub fn external_user_id(provider: &str, sub: &str) -> String {
    format!("{provider}:{sub}")
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
            ExternalKeySource::Jwks(url) => IssuerKey::Jwks(Arc::new(
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
            name: name.to_string(),
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
        Ok(AuthUser {
            user_id: external_user_id(&self.name, &claims.sub),
            issuer: self.issuer.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::external_user_id;
    use crate::profiles::encode_user_id;

    #[test]
    fn provider_ids_are_namespaced_and_safe_in_keys() {
        assert_eq!(external_user_id("idp", "auth0|42"), "idp:auth0|42");
        // A built-in id (a UUID) cannot be reached: every provider id has its provider's prefix.
        let builtin = "0190c0de-0000-7000-8000-000000000001";
        assert_ne!(external_user_id("idp", builtin), builtin);
        assert_ne!(external_user_id("a", "x"), external_user_id("b", "x"));
        // In object keys the `:` is escaped like any unsafe byte: no `/`, no dot segment.
        assert_eq!(encode_user_id(&external_user_id("idp", "../x")), "idp~3A..~2Fx");
        assert_eq!(encode_user_id(&external_user_id("idp", "a/b")), "idp~3Aa~2Fb");
    }
}
