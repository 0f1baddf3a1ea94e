//! OSS's callback public keys: fetched only from allowed canonical URLs, with a short timeout,
//! cached per URL.
//!
//! Anyone can send a callback naming any allowed key URL, and the key is needed before the
//! signature can be checked, so nothing an unsigned request causes may slow a genuine callback:
//! - each URL has its own fetch lock (waiters of one URL find its key or its failure cached);
//! - at most `max_key_fetches` fetches of URLs admitted by a prefix run at once; beyond that a
//!   callback is refused at once (or served a stale key) instead of queueing;
//! - a failed fetch is remembered for `key_failure_ttl_secs`, so a slow or dead URL costs one
//!   fetch per interval, not one per request;
//! - a key that has verified a signature is never evicted to make room: only keys and failures
//!   no signed callback has vouched for are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signing::callback::CallbackPublicKey;
use tokio::sync::Semaphore;

use super::CallbackError;
use crate::ops::Metrics;
use crate::settings::CallbackSettings;
use crate::signing;
use crate::signing::callback::KeyUrlAllowList;

/// Entries (keys and remembered failures) kept; proven keys are never the ones dropped.
const MAX_ENTRIES: usize = 64;

#[derive(Default)]
struct Slot {
    key: Option<(Arc<CallbackPublicKey>, Instant)>,
    failed_at: Option<Instant>,
    /// Verified a signature: only then can this entry not be evicted by unsigned traffic.
    proven: bool,
    last_used: Option<Instant>,
}

struct Entry {
    slot: Mutex<Slot>,
    fetching: tokio::sync::Mutex<()>,
}

pub struct PublicKeys {
    allowed: KeyUrlAllowList,
    ttl: Duration,
    failure_ttl: Duration,
    client: reqwest::Client,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    fetches: Semaphore,
    pinned: Option<Arc<CallbackPublicKey>>,
    metrics: actix_web::web::Data<Metrics>,
}

enum Lookup {
    Use(Arc<CallbackPublicKey>),
    /// A fetch is due; `stale` is served if it fails.
    Fetch {
        stale: Option<Arc<CallbackPublicKey>>,
    },
}

impl PublicKeys {
    pub fn from_settings(
        settings: &CallbackSettings,
        metrics: actix_web::web::Data<Metrics>,
    ) -> anyhow::Result<PublicKeys> {
        let pinned = match &settings.public_key_pem_file {
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("callback.public_key_pem_file {}: {e}", path.display()))?;
                let key = signing::callback::parse_public_key_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("callback.public_key_pem_file {}: {e}", path.display()))?;
                Some(Arc::new(key))
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.key_fetch_timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(PublicKeys {
            allowed: settings.key_url_allow_list(),
            ttl: Duration::from_secs(settings.key_cache_ttl_secs),
            failure_ttl: Duration::from_secs(settings.key_failure_ttl_secs),
            client,
            entries: Mutex::new(HashMap::new()),
            fetches: Semaphore::new(settings.max_key_fetches.max(1)),
            pinned,
            metrics,
        })
    }

    /// Checks a callback's signature with the key its `x-oss-pub-key-url` header (base64) names.
    pub async fn verify(
        &self,
        key_url_header: &str,
        authorization: &str,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<(), CallbackError> {
        let url = signing::callback::public_key_url(key_url_header, &self.allowed)
            .map_err(|_| CallbackError::KeyUrlNotAllowed)?;
        let check = |key: &CallbackPublicKey| {
            signing::callback::verify(key, authorization, path, query, body)
                .map_err(|_| CallbackError::BadSignature)
        };
        if let Some(pinned) = &self.pinned {
            return check(pinned);
        }
        let entry = self.entry(&url);
        let key = self.key_for(&url, &entry).await?;
        check(&key)?;
        lock(&entry.slot).proven = true;
        Ok(())
    }

    async fn key_for(&self, url: &str, entry: &Entry) -> Result<Arc<CallbackPublicKey>, CallbackError> {
        if let Lookup::Use(key) = self.lookup(entry)? {
            return Ok(key);
        }
        // One fetch per URL; whoever waited finds its key, or its failure, cached.
        let _fetching = entry.fetching.lock().await;
        let stale = match self.lookup(entry)? {
            Lookup::Use(key) => return Ok(key),
            Lookup::Fetch { stale } => stale,
        };
        // Listed URLs are few and each has its own lock; the URLs a prefix admits are as many
        // as a forger likes, so their fetches share a bound.
        let listed = self.allowed.exact.iter().any(|u| u == url);
        let permit = (!listed).then(|| self.fetches.try_acquire());
        if let Some(Err(_)) = permit {
            return match stale {
                Some(key) => Ok(self.serve_stale(key, &"too many key fetches in flight")),
                None => {
                    self.count("busy");
                    Err(CallbackError::KeyUnavailable(
                        "too many public-key fetches in flight".into(),
                    ))
                }
            };
        }
        match self.fetch(url).await {
            Ok(key) => {
                self.count("fetch");
                let key = Arc::new(key);
                let mut slot = lock(&entry.slot);
                slot.key = Some((key.clone(), Instant::now()));
                slot.failed_at = None;
                drop(slot);
                Ok(key)
            }
            Err(err) => {
                lock(&entry.slot).failed_at = Some(Instant::now());
                match stale {
                    Some(key) => Ok(self.serve_stale(key, &err)),
                    None => {
                        self.count("fetch_failed");
                        Err(err)
                    }
                }
            }
        }
    }

    /// What the cache answers for a URL now: a key to use (fresh, or stale while its URL is
    /// failing), the failure of a recent fetch, or that a fetch is due.
    fn lookup(&self, entry: &Entry) -> Result<Lookup, CallbackError> {
        let mut slot = lock(&entry.slot);
        slot.last_used = Some(Instant::now());
        let (stale, fresh) = match slot.key.clone() {
            Some((key, at)) if at.elapsed() < self.ttl => (None, Some(key)),
            other => (other.map(|(key, _)| key), None),
        };
        let failing = slot.failed_at.is_some_and(|at| at.elapsed() < self.failure_ttl);
        drop(slot);
        match (fresh, stale, failing) {
            (Some(key), _, _) => {
                self.count("hit");
                Ok(Lookup::Use(key))
            }
            (None, Some(stale), true) => Ok(Lookup::Use(self.serve_stale(stale, &"recent fetch failed"))),
            (None, None, true) => {
                self.count("failure_cached");
                Err(CallbackError::KeyUnavailable(
                    "the key URL failed recently; not fetched again yet".into(),
                ))
            }
            (None, stale, false) => Ok(Lookup::Fetch { stale }),
        }
    }

    fn serve_stale(
        &self,
        key: Arc<CallbackPublicKey>,
        why: &dyn std::fmt::Display,
    ) -> Arc<CallbackPublicKey> {
        self.count("stale");
        tracing::warn!(reason = %why, "public key refresh unavailable; using the cached key");
        key
    }

    /// The URL's entry, made room for by dropping the least recently used unproven entry.
    fn entry(&self, url: &str) -> Arc<Entry> {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get(url) {
            return entry.clone();
        }
        if entries.len() >= MAX_ENTRIES {
            let victim = entries
                .iter()
                .filter(|(_, e)| !lock(&e.slot).proven)
                .min_by_key(|(_, e)| lock(&e.slot).last_used)
                .map(|(url, _)| url.clone());
            if let Some(victim) = victim {
                entries.remove(&victim);
            }
        }
        let entry = Arc::new(Entry {
            slot: Mutex::new(Slot::default()),
            fetching: tokio::sync::Mutex::new(()),
        });
        // Full of proven keys (not a thing OSS does): serve this one uncached rather than evict.
        if entries.len() < MAX_ENTRIES {
            entries.insert(url.to_owned(), entry.clone());
        }
        entry
    }

    fn count(&self, result: &str) {
        self.metrics.public_keys.with_label_values(&[result]).inc();
    }

    async fn fetch(&self, url: &str) -> Result<CallbackPublicKey, CallbackError> {
        tracing::info!(url, "fetching OSS callback public key");
        let unavailable = |e: &dyn std::fmt::Display| CallbackError::KeyUnavailable(e.to_string());
        let response = self.client.get(url).send().await.map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(unavailable(&format!("key server answered {}", response.status())));
        }
        let pem = response.text().await.map_err(|e| unavailable(&e))?;
        if pem.len() > 16 * 1024 {
            return Err(unavailable(&"key document too large"));
        }
        signing::callback::parse_public_key_pem(&pem).map_err(|e| unavailable(&e))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
