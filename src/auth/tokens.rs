//! Short-lived access tokens (HS256 JWTs) with a key id in the header, so signing keys rotate
//! without logging everybody out: new tokens use the current kid, older kids keep verifying.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::verified::{Verified, VerifiedTokens};
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
    /// Tokens that passed `validation` with these keys, so a token's next requests skip it.
    verified: VerifiedTokens,
}

/// Seconds of clock skew allowed on `exp`, by jsonwebtoken and by the memo alike.
const LEEWAY_SECS: u64 = 5;

/// Tokens in each of the memo's two generations: 7/8 of 16,384, hashbrown's load limit, so each full
/// generation's table is 16,384 slots and not twice that. At most ~3 MB in all (~110 bytes a
/// token), only reached with ~28,000 distinct tokens in use.
const VERIFIED_GENERATION: usize = 14_336;

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
        validation.leeway = LEEWAY_SECS;
        Ok(AccessTokens {
            issuer: settings.auth.issuer.clone(),
            audience: settings.auth.audience.clone(),
            current_kid: settings.auth.current_kid.clone(),
            keys,
            ttl: Duration::seconds(settings.auth.access_ttl_secs as i64),
            validation,
            verified: VerifiedTokens::new(VERIFIED_GENERATION),
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
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// `verify` with the clock read by the caller (`now`, seconds since the epoch), which is what a
    /// remembered token's expiry is checked against; a token seen first is checked by jsonwebtoken,
    /// on its own clock.
    fn verify_at(&self, token: &str, now: u64) -> Result<Option<AccessClaims>, AuthError> {
        let key = VerifiedTokens::key(token);
        if let Some(known) = self.verified.get(&key) {
            // jsonwebtoken's rule: expired once `exp < now - leeway`.
            if known.exp < now.saturating_sub(LEEWAY_SECS) as i64 {
                return Err(AuthError::Expired);
            }
            return Ok(Some(AccessClaims {
                iss: self.issuer.clone(),
                aud: self.audience.clone(),
                sub: known.sub.into(),
                iat: known.iat,
                exp: known.exp,
            }));
        }
        let claims = self.verify_in_full(token)?;
        if let Some(claims) = &claims {
            let known = Verified {
                sub: claims.sub.as_str().into(),
                iat: claims.iat,
                exp: claims.exp,
            };
            self.verified.insert(key, known);
        }
        Ok(claims)
    }

    fn verify_in_full(&self, token: &str) -> Result<Option<AccessClaims>, AuthError> {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn tokens() -> AccessTokens {
        let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        let settings = Settings::load(&dir, &HashMap::new()).unwrap();
        AccessTokens::from_settings(&settings).unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn a_remembered_token_answers_as_a_full_verification_did() {
        let tokens = tokens();
        let (token, _) = tokens.issue("user-1", Utc::now()).unwrap();
        let first = tokens.verify(&token).unwrap().unwrap();
        let again = tokens.verify(&token).unwrap().unwrap();
        assert_eq!(
            (&again.iss, &again.aud, &again.sub, again.iat, again.exp),
            (&first.iss, &first.aud, &first.sub, first.iat, first.exp)
        );
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires() {
        let tokens = tokens();
        let (token, expires) = tokens.issue("user-1", Utc::now()).unwrap();
        assert!(tokens.verify(&token).unwrap().is_some());
        let exp = expires.timestamp() as u64;
        // Within the leeway it still passes, as with jsonwebtoken; past it, it is expired.
        assert!(tokens.verify_at(&token, exp + LEEWAY_SECS).unwrap().is_some());
        assert!(matches!(
            tokens.verify_at(&token, exp + LEEWAY_SECS + 1),
            Err(AuthError::Expired)
        ));
    }

    #[test]
    fn a_token_changed_in_any_byte_is_verified_afresh_and_refused() {
        let tokens = tokens();
        let (token, _) = tokens.issue("user-1", Utc::now()).unwrap();
        assert!(tokens.verify(&token).unwrap().is_some());
        let signature_at = token.rfind('.').unwrap() + 1;
        for at in [signature_at, token.len() - 2, token.find('.').unwrap() + 3] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            // Refused, or (a payload no longer naming us) not taken as ours: never its claims.
            let outcome = tokens.verify_at(&forged, now());
            assert!(!matches!(outcome, Ok(Some(_))), "byte {at} changed: {outcome:?}");
        }
        assert!(!matches!(tokens.verify(&format!("{token}x")), Ok(Some(_))));
        // The original is still good.
        assert!(tokens.verify(&token).unwrap().is_some());
    }
}
