//! API keys for backend teams: `usk_<id>_<secret>`, shown once, stored as a SHA-256 hash of the
//! secret, scoped, revocable, with a last-used time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::{ApiKeyRecord, DynStore, StoreError};

use super::API_KEY_PREFIX as PREFIX;
pub const SCOPES: &[&str] = &["uploads:read", "uploads:admin"];

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A freshly made key: the record to store and the full key to show once.
pub fn generate(name: &str, scopes: &[String]) -> Result<(ApiKeyRecord, String), String> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err("a key name is 1 to 100 characters".into());
    }
    if scopes.is_empty() {
        return Err(format!("give at least one scope: {}", SCOPES.join(", ")));
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(format!("unknown scope {bad:?}; known: {}", SCOPES.join(", ")));
    }
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let record = ApiKeyRecord {
        id: id.clone(),
        name: name.trim().to_string(),
        secret_hash: hash_secret(&secret),
        scopes: scopes.to_vec(),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    Ok((record, format!("{PREFIX}{id}_{secret}")))
}

/// Splits `usk_<id>_<secret>`.
fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

pub fn looks_like_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// How long a key read from the store is trusted without reading it again: the longest a
/// revocation (`api-key revoke`, another process) takes to reach a running service. Reading the
/// key on every request (a query and the pool's round trip) was a sixth of a records page's CPU,
/// the server's and Postgres's.
pub const REMEMBER: Duration = Duration::from_secs(1);

/// What a running service keeps of API keys: each key's record as last read (for [`REMEMBER`]),
/// and when its `last_used_at` was last written (at most once a minute per key). Only keys the
/// store knows are kept, so the maps hold at most one entry per key ever created.
#[derive(Default)]
pub struct KnownKeys {
    read: Mutex<HashMap<String, (Instant, ApiKeyRecord)>>,
    last_write: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each map is consistent after every statement: a panic elsewhere leaves nothing half-done.
    map.lock().unwrap_or_else(|p| p.into_inner())
}

impl KnownKeys {
    /// The key's record, if it was read less than [`REMEMBER`] ago.
    fn recent(&self, id: &str) -> Option<ApiKeyRecord> {
        lock(&self.read)
            .get(id)
            .filter(|(at, _)| at.elapsed() < REMEMBER)
            .map(|(_, record)| record.clone())
    }

    fn remember(&self, record: &ApiKeyRecord) {
        lock(&self.read).insert(record.id.clone(), (Instant::now(), record.clone()));
    }

    fn use_due(&self, id: &str) -> bool {
        let mut map = lock(&self.last_write);
        let now = Instant::now();
        match map.get(id) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(60) => false,
            _ => {
                map.insert(id.to_string(), now);
                true
            }
        }
    }
}

/// A backend service authenticated by its API key.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
}

impl ApiKey {
    /// `uploads:admin` includes `uploads:read`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        let granted = self.scopes.iter().any(|s| s == scope || s == "uploads:admin");
        if granted {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_scope",
                format!("this key lacks the {scope} scope"),
            ))
        }
    }
}

async fn authenticate(req: HttpRequest) -> Result<ApiKey, ApiError> {
    let token = crate::auth::bearer_token(&req).map_err(|e| {
        let mut err: ApiError = e.into();
        err.www_authenticate = Some("Bearer realm=\"upload-signer-records\"".into());
        err
    })?;
    if !looks_like_api_key(token) {
        return Err(ApiError::forbidden(
            "api_key_required",
            "this route is for backend services with an API key, not app-user tokens",
        ));
    }
    verify(&req, token).await
}

/// The key `token` names, if it is known, unrevoked and its secret matches; records its use.
/// For any way a key arrives (a bearer header, the `/ui` cookie). The secret is checked on every
/// request; the record (revocation, scopes) may be up to [`REMEMBER`] old.
pub async fn verify(req: &HttpRequest, token: &str) -> Result<ApiKey, ApiError> {
    let invalid = || ApiError::unauthorized("invalid_api_key", "unknown, revoked or malformed API key");
    let (id, secret) = parse(token).ok_or_else(invalid)?;
    let store = req
        .app_data::<web::Data<DynStore>>()
        .ok_or_else(|| ApiError::internal("store not configured"))?;
    let known = req
        .app_data::<web::Data<KnownKeys>>()
        .ok_or_else(|| ApiError::internal("API key memo not configured"))?;
    let record = match known.recent(id) {
        Some(record) => record,
        None => match store.get_api_key(id).await {
            Ok(record) => {
                known.remember(&record);
                record
            }
            Err(StoreError::NotFound) => return Err(invalid()),
            Err(err) => return Err(err.into()),
        },
    };
    if record.revoked_at.is_some()
        || !crate::signing::ct_eq(hash_secret(secret).as_bytes(), record.secret_hash.as_bytes())
    {
        return Err(invalid());
    }
    if known.use_due(id) {
        let store = store.get_ref().clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Err(err) = store.touch_api_key(&id, Utc::now()).await {
                tracing::debug!(error = %err, "could not record API key use");
            }
        });
    }
    Ok(ApiKey {
        id: record.id,
        name: record.name,
        scopes: record.scopes,
    })
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash() {
        let (record, key) = generate("analytics", &["uploads:read".to_string()]).unwrap();
        let (id, secret) = parse(&key).unwrap();
        assert_eq!(id, record.id);
        assert_eq!(hash_secret(secret), record.secret_hash);
        assert!(!record.secret_hash.contains(secret));
    }

    #[test]
    fn bad_names_and_scopes_are_refused() {
        assert!(generate("", &["uploads:read".into()]).is_err());
        assert!(generate("x", &[]).is_err());
        assert!(generate("x", &["uploads:write".into()]).is_err());
        assert!(parse("usk_nothex!!!!!!!!!_abc").is_none());
        assert!(parse("usk_0123456789abcdef_").is_none());
    }
}
