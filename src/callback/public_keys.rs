//! OSS's callback public keys: fetched only from allowed URLs, with a short timeout, cached.
//! Under load every callback hits the cache; a key whose refresh fails is served stale rather
//! than refusing genuine callbacks while the key host is slow.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rsa::RsaPublicKey;

use super::CallbackError;
use crate::ops::Metrics;
use crate::settings::CallbackSettings;
use crate::signing;

/// OSS publishes one key URL; a handful of entries covers rotation and tests.
const MAX_CACHED_KEYS: usize = 16;

pub struct PublicKeys {
    allowed_prefixes: Vec<String>,
    ttl: Duration,
    client: reqwest::Client,
    cache: RwLock<HashMap<String, (Arc<RsaPublicKey>, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
    pinned: Option<Arc<RsaPublicKey>>,
    metrics: actix_web::web::Data<Metrics>,
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
            allowed_prefixes: settings.allowed_key_url_prefixes.clone(),
            ttl: Duration::from_secs(settings.key_cache_ttl_secs),
            client,
            cache: RwLock::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
            pinned,
            metrics,
        })
    }

    /// The key named by a callback's `x-oss-pub-key-url` header (base64).
    pub async fn key_for(&self, header_b64: &str) -> Result<Arc<RsaPublicKey>, CallbackError> {
        let url = signing::callback::public_key_url(header_b64, &self.allowed_prefixes)
            .map_err(|_| CallbackError::KeyUrlNotAllowed)?;
        if let Some(pinned) = &self.pinned {
            return Ok(pinned.clone());
        }
        if let Some(key) = self.fresh(&url) {
            self.count("hit");
            return Ok(key);
        }
        // One fetch at a time; whoever waited finds the key cached.
        let _fetching = self.fetching.lock().await;
        if let Some(key) = self.fresh(&url) {
            self.count("hit");
            return Ok(key);
        }
        match self.fetch(&url).await {
            Ok(key) => {
                self.count("fetch");
                let key = Arc::new(key);
                let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= MAX_CACHED_KEYS && !cache.contains_key(&url) {
                    if let Some(oldest) = cache
                        .iter()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(k, _)| k.clone())
                    {
                        cache.remove(&oldest);
                    }
                }
                cache.insert(url, (key.clone(), Instant::now()));
                Ok(key)
            }
            Err(err) => match self.cached(&url) {
                Some((stale, _)) => {
                    self.count("stale");
                    tracing::warn!(error = %err, "public key refresh failed; using the cached key");
                    Ok(stale)
                }
                None => {
                    self.count("fetch_failed");
                    Err(err)
                }
            },
        }
    }

    fn count(&self, result: &str) {
        self.metrics.public_keys.with_label_values(&[result]).inc();
    }

    fn cached(&self, url: &str) -> Option<(Arc<RsaPublicKey>, Instant)> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        cache.get(url).cloned()
    }

    fn fresh(&self, url: &str) -> Option<Arc<RsaPublicKey>> {
        self.cached(url)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(key, _)| key)
    }

    async fn fetch(&self, url: &str) -> Result<RsaPublicKey, CallbackError> {
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
