//! A trusted issuer's JSON Web Key Set, fetched over HTTP and cached.
//!
//! Keys are refetched when the cache is older than `max_age`, or when a token names a key id we do
//! not have (the issuer rotated its keys) — but never more than once per `min_refetch`, so tokens
//! with made-up key ids cannot make us hammer the issuer. If a refetch fails, the keys we already
//! have keep working.
//!
//! A token whose key is cached never waits for a fetch: the state lock is held only to read or
//! swap the key set, never across HTTP. One refetch runs at a time (its own lock, which only
//! tokens with an unknown kid wait on); an expired set is refreshed in the background while its
//! keys go on verifying.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use url::Url;

use super::AuthError;

/// Largest JWKS document we accept.
const MAX_BYTES: usize = 256 * 1024;

#[derive(Clone)]
struct CachedKey {
    key: DecodingKey,
    /// The JWK's own `alg`, when it declares one: then only that algorithm may use it.
    alg: Option<Algorithm>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, CachedKey>,
    /// Keys without a `kid`, usable only by tokens without one.
    anonymous: Vec<CachedKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub struct JwksCache {
    url: Url,
    client: reqwest::Client,
    max_age: Duration,
    min_refetch: Duration,
    state: RwLock<State>,
    /// Held by the one refetch in progress.
    refetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub fn new(
        url: Url,
        timeout: Duration,
        max_age: Duration,
        min_refetch: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(JwksCache {
            url,
            client,
            max_age,
            min_refetch,
            state: RwLock::new(State::default()),
            refetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for a token with this `kid` and `alg`.
    pub async fn key(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let (found, stale) = {
            let state = self.read();
            let stale = state.fetched_at.is_none_or(|t| t.elapsed() >= self.max_age);
            (lookup(&state, kid), stale)
        };
        if let Some(found) = found {
            if stale {
                let this = self.clone();
                tokio::spawn(async move { this.refetch(Need::Fresh).await });
            }
            return select(Some(found), alg);
        }
        self.refetch(Need::Kid(kid)).await;
        let state = self.read();
        if state.fetched_at.is_none() {
            return Err(AuthError::ProviderUnavailable);
        }
        select(lookup(&state, kid), alg)
    }

    /// Fetches the set unless, once it is this caller's turn, another fetch has already given
    /// what it needs or the last attempt was too recent.
    async fn refetch(&self, need: Need<'_>) {
        let _one_at_a_time = match need {
            // A background refresh already under way is all an expired set needs.
            Need::Fresh => match self.refetching.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            },
            Need::Kid(_) => self.refetching.lock().await,
        };
        {
            let state = self.read();
            let satisfied = match need {
                Need::Kid(kid) => lookup(&state, kid).is_some(),
                Need::Fresh => state.fetched_at.is_some_and(|t| t.elapsed() < self.max_age),
            };
            let too_soon = state.last_attempt.is_some_and(|t| t.elapsed() < self.min_refetch);
            if satisfied || too_soon {
                return;
            }
        }
        self.write().last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok((keys, anonymous)) => {
                let mut state = self.write();
                state.keys = keys;
                state.anonymous = anonymous;
                state.fetched_at = Some(Instant::now());
            }
            Err(reason) => {
                tracing::warn!(url = %self.url, %reason, "JWKS fetch failed; keeping cached keys");
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    async fn fetch(&self) -> Result<(HashMap<String, CachedKey>, Vec<CachedKey>), String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading body: {e}"))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(format!("document larger than {MAX_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse(&body)
    }
}

/// Why a refetch is wanted.
#[derive(Clone, Copy)]
enum Need<'a> {
    /// A token names a key id we do not have (`None`: a token without one found no match).
    Kid(Option<&'a str>),
    /// The set is older than `max_age`.
    Fresh,
}

fn lookup(state: &State, kid: Option<&str>) -> Option<CachedKey> {
    match kid {
        Some(kid) => state.keys.get(kid).cloned(),
        // A token without a kid is only matched when the set leaves no doubt.
        None => match (state.anonymous.len(), state.keys.len()) {
            (1, 0) => state.anonymous.first().cloned(),
            (0, 1) => state.keys.values().next().cloned(),
            _ => None,
        },
    }
}

fn select(found: Option<CachedKey>, alg: Algorithm) -> Result<DecodingKey, AuthError> {
    let found = found.ok_or(AuthError::Invalid("unknown key id"))?;
    if found.alg.is_some_and(|a| a != alg) {
        return Err(AuthError::Invalid("algorithm not accepted for this key"));
    }
    Ok(found.key)
}

/// Parses a JWKS document, skipping keys we cannot or must not use (symmetric `oct` keys: a
/// published shared secret is no secret; unknown key types).
fn parse(body: &[u8]) -> Result<(HashMap<String, CachedKey>, Vec<CachedKey>), String> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = HashMap::new();
    let mut anonymous = Vec::new();
    for raw in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            continue;
        }
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| serde_json::to_value(a).ok())
            .and_then(|v| v.as_str().and_then(|s| s.parse::<Algorithm>().ok()));
        let cached = CachedKey { key, alg };
        match jwk.common.key_id {
            Some(kid) => {
                keys.insert(kid, cached);
            }
            None => anonymous.push(cached),
        }
    }
    Ok((keys, anonymous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_symmetric_and_unknown_keys() {
        let doc = br#"{"keys":[
            {"kty":"oct","kid":"s","k":"c2VjcmV0"},
            {"kty":"weird","kid":"w"},
            {"kty":"EC","kid":"e","crv":"P-256","alg":"ES256",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}"#;
        let (keys, anonymous) = parse(doc).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["e"]);
        assert!(anonymous.is_empty());
        assert_eq!(keys["e"].alg, Some(Algorithm::ES256));
    }

    #[test]
    fn rejects_non_jwks() {
        assert!(parse(b"<html>").is_err());
    }
}
