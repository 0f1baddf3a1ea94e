//! The upload token: rides inside the callback body so the callback endpoint can prove, without a
//! database lookup, which credential an upload belongs to.
//!
//! Format: `v1.<kid>.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "v1.<kid>.<payload>"))>`
//! (URL-safe base64 without padding, so the token survives form and JSON bodies unescaped).
//! `verify` deliberately ignores `expires_at`: OSS may deliver the callback after the credential
//! expired, so the caller decides what lateness means.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::common::{hmac_sha256_keyed, HmacSha256};

const VERSION: &str = "v1";
/// Far above any real token; bounds the work an attacker can make us do.
const MAX_TOKEN_LEN: usize = 4096;
const MAX_KID_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadClaims {
    pub upload_id: String,
    pub user_id: String,
    pub profile: String,
    pub bucket: String,
    pub key: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds: when the upload credential expired (not checked by `verify`).
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed upload token")]
    Malformed,
    #[error("unsupported upload token version")]
    UnsupportedVersion,
    #[error("unknown upload token key id")]
    UnknownKid,
    #[error("upload token MAC does not match")]
    BadMac,
    #[error("invalid key id: 1 to 32 of [A-Za-z0-9_-]")]
    InvalidKid,
    #[error("upload token secret must not be empty")]
    EmptySecret,
}

/// Signing keys: the current one signs, the others (recently rotated out) still verify.
#[derive(Clone)]
pub struct TokenKeys {
    current_kid: String,
    current_secret: Vec<u8>,
    /// An HMAC keyed with the current secret: every issued token clones it instead of keying anew.
    current_mac: HmacSha256,
    others: Vec<(String, Vec<u8>)>,
}

// Hand-written so secrets never reach a log.
impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let others: Vec<&str> = self.others.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TokenKeys")
            .field("current_kid", &self.current_kid)
            .field("other_kids", &others)
            .finish_non_exhaustive()
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl TokenKeys {
    /// Key ids must be `[A-Za-z0-9_-]{1,32}` (they sit between the token's dots); secrets non-empty.
    pub fn new(
        current_kid: &str,
        current_secret: &[u8],
        others: &[(&str, &[u8])],
    ) -> Result<Self, TokenError> {
        let all = std::iter::once((current_kid, current_secret)).chain(others.iter().copied());
        for (kid, secret) in all {
            if !valid_kid(kid) {
                return Err(TokenError::InvalidKid);
            }
            if secret.is_empty() {
                return Err(TokenError::EmptySecret);
            }
        }
        Ok(TokenKeys {
            current_kid: current_kid.to_owned(),
            current_secret: current_secret.to_vec(),
            current_mac: hmac_sha256_keyed(current_secret),
            others: others
                .iter()
                .map(|(k, s)| ((*k).to_owned(), s.to_vec()))
                .collect(),
        })
    }

    pub fn current_kid(&self) -> &str {
        &self.current_kid
    }

    fn secret(&self, kid: &str) -> Option<&[u8]> {
        if kid == self.current_kid {
            return Some(&self.current_secret);
        }
        self.others
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, s)| s.as_slice())
    }
}

/// Issue a token for `claims` with the current key.
pub fn issue(claims: &UploadClaims, keys: &TokenKeys) -> String {
    // Strings and integers always serialise: a failure here is a bug, never input.
    let json = serde_json::to_vec(claims).expect("upload claims serialise");
    let signed = format!("{VERSION}.{}.{}", keys.current_kid, URL_SAFE_NO_PAD.encode(json));
    let mut mac = keys.current_mac.clone();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Check a token's MAC (constant time) with the key its kid names, then return its claims.
/// Expiry is not checked: see the module docs.
pub fn verify(token: &str, keys: &TokenKeys) -> Result<UploadClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [version, kid, payload, mac] = parts.as_slice() else {
        return Err(TokenError::Malformed);
    };
    if *version != VERSION {
        return Err(TokenError::UnsupportedVersion);
    }
    let secret = keys.secret(kid).ok_or(TokenError::UnknownKid)?;
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| TokenError::Malformed)?;
    let signed_len = version.len() + kid.len() + payload.len() + 2;
    let signed = token.get(..signed_len).ok_or(TokenError::Malformed)?;
    let mut expected = Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| TokenError::BadMac)?;
    expected.update(signed.as_bytes());
    // verify_slice compares in constant time.
    expected.verify_slice(&mac).map_err(|_| TokenError::BadMac)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::hmac_sha256;

    fn claims() -> UploadClaims {
        UploadClaims {
            upload_id: "01JD0000000000000000000000".into(),
            user_id: "u-42".into(),
            profile: "avatar".into(),
            bucket: "demo-bucket".into(),
            key: "avatars/42/中文 a+b.jpg".into(),
            issued_at: 1_795_578_400,
            expires_at: 1_795_579_000,
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new("k2", b"current-secret", &[("k1", b"old-secret")]).unwrap()
    }

    #[test]
    fn issue_then_verify_round_trips() {
        let token = issue(&claims(), &keys());
        assert!(token.starts_with("v1.k2."));
        assert_eq!(token.split('.').count(), 4);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(verify(&token, &keys()), Ok(claims()));
        // Deterministic: same claims, same key, same token.
        assert_eq!(issue(&claims(), &keys()), token);
    }

    #[test]
    fn format_is_pinned() {
        let keys = TokenKeys::new("kid", b"secret", &[]).unwrap();
        let c = UploadClaims {
            upload_id: "u".into(),
            user_id: "1".into(),
            profile: "p".into(),
            bucket: "b".into(),
            key: "k".into(),
            issued_at: 1,
            expires_at: 2,
        };
        let token = issue(&c, &keys);
        let payload = r#"{"upload_id":"u","user_id":"1","profile":"p","bucket":"b","key":"k","issued_at":1,"expires_at":2}"#;
        let signed = format!("v1.kid.{}", URL_SAFE_NO_PAD.encode(payload));
        let mac = URL_SAFE_NO_PAD.encode(hmac_sha256(b"secret", signed.as_bytes()));
        assert_eq!(token, format!("{signed}.{mac}"));
    }

    #[test]
    fn rotated_keys_still_verify_and_expiry_is_not_checked() {
        let old = TokenKeys::new("k1", b"old-secret", &[]).unwrap();
        let mut c = claims();
        c.expires_at = 0; // long expired: the caller decides, not verify
        let token = issue(&c, &old);
        assert_eq!(verify(&token, &keys()), Ok(c));
        let retired = TokenKeys::new("k3", b"new", &[]).unwrap();
        assert_eq!(verify(&token, &retired), Err(TokenError::UnknownKid));
    }

    #[test]
    fn tampering_is_detected() {
        let token = issue(&claims(), &keys());
        let parts: Vec<&str> = token.split('.').collect();
        let mut other = claims();
        other.key = "avatars/43/x.jpg".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let forged = format!("v1.k2.{forged_payload}.{}", parts[3]);
        assert_eq!(verify(&forged, &keys()), Err(TokenError::BadMac));
        // Same MAC presented under the other kid.
        let swapped = format!("v1.k1.{}.{}", parts[2], parts[3]);
        assert_eq!(verify(&swapped, &keys()), Err(TokenError::BadMac));
        let mut mac = parts[3].to_owned();
        let last = if mac.ends_with('A') { "B" } else { "A" };
        mac.replace_range(mac.len() - 1.., last);
        let flipped = format!("v1.k2.{}.{mac}", parts[2]);
        assert_eq!(verify(&flipped, &keys()), Err(TokenError::BadMac));
        let wrong_secret = TokenKeys::new("k2", b"other", &[]).unwrap();
        assert_eq!(verify(&token, &wrong_secret), Err(TokenError::BadMac));
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        let token = issue(&claims(), &keys());
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        let cases = [
            "",
            ".",
            "...",
            "v1",
            "v1.k2",
            "v1.k2.x",
            "v1.k2.x.y.z",
            "v2.k2.x.y",
            "v1.k2.x.!!!",
            "v1.k2.!!!.AAAA",
            "v1.k2.中.文",
            long.as_str(),
            &token[..token.len() - 1],
            &token.replace("v1.", "V1."),
        ];
        for c in cases {
            assert!(verify(c, &keys()).is_err(), "{c}");
        }
        // A valid MAC over a payload that is not claims JSON.
        let signed = format!("v1.k2.{}", URL_SAFE_NO_PAD.encode("[1]"));
        let mac = URL_SAFE_NO_PAD.encode(hmac_sha256(b"current-secret", signed.as_bytes()));
        assert_eq!(
            verify(&format!("{signed}.{mac}"), &keys()),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn key_validation_and_debug_redaction() {
        assert_eq!(
            TokenKeys::new("a.b", b"s", &[]).unwrap_err(),
            TokenError::InvalidKid
        );
        assert_eq!(TokenKeys::new("", b"s", &[]).unwrap_err(), TokenError::InvalidKid);
        assert_eq!(
            TokenKeys::new("a", b"", &[]).unwrap_err(),
            TokenError::EmptySecret
        );
        assert_eq!(
            TokenKeys::new("a", b"s", &[("x y", b"s")]).unwrap_err(),
            TokenError::InvalidKid
        );
        let debug = format!("{:?}", keys());
        assert!(debug.contains("k2") && debug.contains("k1"));
        assert!(!debug.contains("current-secret") && !debug.contains("old-secret"));
    }
}
