//! The emulator's STS credentials, kept by nobody: the security token carries the session (access
//! key id, expiry, inline policy) under an HMAC with the emulator's own key, and the secret of an
//! `STS.` access key id is derived from that id with the same key. Any restart with the same data
//! directory accepts the credentials it minted before.

use std::io;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::ram::Policy;

const KEY_FILE: &str = "sts_key";
/// Real tokens start with `CAIS`; apps and SDKs treat the rest as opaque.
const TOKEN_PREFIX: &str = "CAIS";
pub const ACCESS_KEY_PREFIX: &str = "STS.";

/// The HMAC key behind every token and derived secret.
pub struct StsKey([u8; 32]);

// Never printed.
impl std::fmt::Debug for StsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StsKey(..)")
    }
}

/// What a security token says about its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The `STS.` access key id the token belongs to.
    pub ak: String,
    /// Unix seconds.
    pub exp: i64,
    /// The AssumeRole `Policy`, if one was given (no policy: the role's own, which allows all).
    pub policy: Option<String>,
    pub role: String,
    pub session: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a token this emulator minted (or altered), or one minted for another access key.
    Invalid,
    Expired,
}

impl StsKey {
    pub fn load_or_create(data_dir: &Path) -> io::Result<StsKey> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                bytes.map(StsKey).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} must hold 64 hex digits", path.display()),
                    )
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                super::keys::write_private(&path, hex::encode(key).as_bytes())?;
                Ok(StsKey(key))
            }
            Err(e) => Err(e),
        }
    }

    #[cfg(test)]
    pub fn fixed(byte: u8) -> StsKey {
        StsKey([byte; 32])
    }

    fn mac(&self, label: &str, data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC key");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// The secret of an `STS.` access key id: only this key can compute it.
    pub fn secret_for(&self, access_key_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(&self.mac("secret", access_key_id.as_bytes())[..24])
    }

    /// A new access key id, its secret and the token for `session`.
    pub fn mint(&self, mut session: Session) -> (String, String, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        session.ak = format!("{ACCESS_KEY_PREFIX}{}", &id[..24]);
        // Serialising plain strings and numbers cannot fail.
        let payload = serde_json::to_vec(&session).unwrap_or_default();
        let tag = self.mac("token", &payload);
        let token = format!(
            "{TOKEN_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        );
        let secret = self.secret_for(&session.ak);
        (session.ak, secret, token)
    }

    /// The session of `token`, if this key minted it for `access_key_id` and it is still valid.
    pub fn open(
        &self,
        token: &str,
        access_key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Session, TokenProblem> {
        let (payload, tag) = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| t.split_once('.'))
            .ok_or(TokenProblem::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenProblem::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenProblem::Invalid)?;
        if !signing::ct_eq(&self.mac("token", &payload), &tag) {
            return Err(TokenProblem::Invalid);
        }
        let session: Session = serde_json::from_slice(&payload).map_err(|_| TokenProblem::Invalid)?;
        if session.ak != access_key_id {
            return Err(TokenProblem::Invalid);
        }
        if now.timestamp() >= session.exp {
            return Err(TokenProblem::Expired);
        }
        Ok(session)
    }
}

impl Session {
    /// The inline policy; `None` means the session may do what the role may (everything here).
    pub fn policy(&self) -> Option<Result<Policy, String>> {
        self.policy.as_deref().map(Policy::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(exp: i64) -> Session {
        Session {
            ak: String::new(),
            exp,
            policy: Some(r#"{"Version":"1","Statement":[]}"#.into()),
            role: "acs:ram::1:role/r".into(),
            session: "alice".into(),
        }
    }

    #[test]
    fn tokens_open_only_for_their_key_id_until_they_expire() {
        let key = StsKey::fixed(7);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (ak, secret, token) = key.mint(session(now.timestamp() + 900));
        assert!(ak.starts_with("STS.") && token.starts_with("CAIS"));
        assert_eq!(secret, key.secret_for(&ak));
        assert_ne!(secret, StsKey::fixed(8).secret_for(&ak));
        let s = key.open(&token, &ak, now).unwrap();
        assert_eq!(s.session, "alice");
        assert_eq!(s.ak, ak);

        let later = now + chrono::Duration::seconds(900);
        assert_eq!(key.open(&token, &ak, later), Err(TokenProblem::Expired));
        let (other_ak, _, _) = key.mint(session(now.timestamp() + 900));
        assert_eq!(key.open(&token, &other_ak, now), Err(TokenProblem::Invalid));
        assert_eq!(
            StsKey::fixed(8).open(&token, &ak, now),
            Err(TokenProblem::Invalid)
        );
        // A token whose payload was swapped (say, for a wider policy) fails its MAC.
        let (_, tag) = token.split_once('.').unwrap();
        let mut forged = session(now.timestamp() + 900);
        forged.ak = ak.clone();
        forged.policy = None;
        let forged = format!(
            "CAIS{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap())
        );
        assert_eq!(key.open(&forged, &ak, now), Err(TokenProblem::Invalid));
        assert_eq!(key.open("CAIS", &ak, now), Err(TokenProblem::Invalid));
        assert_eq!(key.open("garbage", &ak, now), Err(TokenProblem::Invalid));
    }

    #[test]
    fn the_key_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let a = StsKey::load_or_create(dir.path()).unwrap();
        let b = StsKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.secret_for("STS.x"), b.secret_for("STS.x"));
        assert_eq!(format!("{a:?}"), "StsKey(..)");
    }
}
