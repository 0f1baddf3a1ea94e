//! Short-lived access tokens (HS256 JWTs) with a key id in the header, so signing keys rotate
//! without logging everybody out: new tokens use the current kid, older kids keep verifying.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::settings::{Settings, SettingsError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

struct Key {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

pub struct AccessTokens {
    issuer: String,
    audience: String,
    current_kid: String,
    keys: HashMap<String, Key>,
    ttl: Duration,
    /// What `verify` checks, built once: `Validation` holds hash sets, costly to fill per request.
    validation: Validation,
}

impl AccessTokens {
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let keys = settings
            .auth_keys()?
            .into_iter()
            .map(|(kid, secret)| {
                let bytes = secret.expose().as_bytes();
                let key = Key {
                    encoding: EncodingKey::from_secret(bytes),
                    decoding: DecodingKey::from_secret(bytes),
                };
                (kid, key)
            })
            .collect();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.auth.issuer]);
        validation.set_audience(&[&settings.auth.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(AccessTokens {
            issuer: settings.auth.issuer.clone(),
            audience: settings.auth.audience.clone(),
            current_kid: settings.auth.current_kid.clone(),
            keys,
            ttl: Duration::seconds(settings.auth.access_ttl_secs as i64),
            validation,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Mints a token for `user_id`; returns it with its expiry.
    pub fn issue(&self, user_id: &str, now: DateTime<Utc>) -> Result<(String, DateTime<Utc>), AuthError> {
        let key = self
            .keys
            .get(&self.current_kid)
            .ok_or(AuthError::Invalid("no current signing key"))?;
        let expires = now + self.ttl;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current_kid.clone());
        let token = encode(&header, &claims, &key.encoding).map_err(|_| AuthError::Invalid("cannot sign"))?;
        Ok((token, expires))
    }

    /// Verifies signature (HS256 only: no algorithm confusion, no `none`), issuer, audience and expiry.
    /// `None` when the token was not minted by us (unknown issuer), so other verifiers can try it.
    pub fn verify(&self, token: &str) -> Result<Option<AccessClaims>, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Invalid("malformed token"))?;
        let unverified_iss = peek_issuer(token);
        if unverified_iss.as_deref() != Some(self.issuer.as_str()) {
            return Ok(None);
        }
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Invalid("algorithm not accepted"));
        }
        let kid = header.kid.ok_or(AuthError::Invalid("token has no key id"))?;
        let key = self.keys.get(&kid).ok_or(AuthError::Invalid("unknown key id"))?;
        decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map(|data| Some(data.claims))
            .map_err(map_jwt_error)
    }
}

/// The `iss` claim read without verification: only to route the token to the right verifier.
pub(crate) fn peek_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

pub(crate) fn map_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience"),
        ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer"),
        ErrorKind::InvalidSignature => AuthError::Invalid("bad signature"),
        ErrorKind::ImmatureSignature => AuthError::Invalid("token not yet valid"),
        ErrorKind::MissingRequiredClaim(_) => AuthError::Invalid("missing required claim"),
        ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm not accepted"),
        _ => AuthError::Invalid("malformed token"),
    }
}
