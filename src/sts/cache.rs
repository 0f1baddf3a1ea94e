//! Credentials per user and scope, reused until `refresh_before` ahead of their expiry (STS has
//! rate limits), with one AssumeRole in flight per key however many requests ask at once.
//!
//! The call runs on a spawned task that stores its own result, so a client hanging up cannot
//! cancel it for the others waiting; every waiter shares the same outcome, errors included, so ten
//! requests during an STS timeout wait for one timeout, not ten in a row.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use tracing::Instrument;

use super::StsError;
use crate::signing::sts::StsCredentials;

pub type Fetched = Result<Arc<StsCredentials>, StsError>;

/// Who and what the credentials are for: the user id and the policy resource.
pub type CacheKey = (String, String);

enum Slot {
    Ready(Arc<StsCredentials>),
    Pending {
        id: u64,
        fetch: Shared<BoxFuture<'static, Fetched>>,
    },
}

/// Past this many entries, expired ones are dropped before a new one is added.
const PRUNE_ABOVE: usize = 10_000;

pub struct CredentialCache {
    slots: Mutex<HashMap<CacheKey, Slot>>,
    refresh_before: Duration,
    next_id: AtomicU64,
}

impl CredentialCache {
    pub fn new(refresh_before: Duration) -> Arc<CredentialCache> {
        Arc::new(CredentialCache {
            slots: Mutex::new(HashMap::new()),
            refresh_before,
            next_id: AtomicU64::new(0),
        })
    }

    fn fresh(&self, credentials: &StsCredentials, now: DateTime<Utc>) -> bool {
        credentials.expiration - self.refresh_before > now
    }

    /// Cached credentials for `key` if still fresh at `now`, else the outcome of the one
    /// `fetch` in flight for it (started here if none is).
    pub async fn get_or_fetch<F, Fut>(
        self: &Arc<Self>,
        key: CacheKey,
        now: DateTime<Utc>,
        fetch: F,
    ) -> Fetched
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let shared = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.get(&key) {
                Some(Slot::Ready(credentials)) if self.fresh(credentials, now) => {
                    return Ok(credentials.clone());
                }
                Some(Slot::Pending { fetch, .. }) => fetch.clone(),
                _ => {
                    if slots.len() > PRUNE_ABOVE {
                        slots.retain(|_, slot| match slot {
                            Slot::Ready(c) => self.fresh(c, now),
                            Slot::Pending { .. } => true,
                        });
                    }
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let cache = Arc::clone(self);
                    let task_key = key.clone();
                    let call = fetch();
                    // Settling needs the lock held here, so it always finds this Pending slot.
                    // In the first requester's span, so the call's log lines carry its request id.
                    let task = tokio::spawn(
                        async move {
                            let outcome = call.await.map(Arc::new);
                            cache.settle(&task_key, id, &outcome);
                            outcome
                        }
                        .in_current_span(),
                    );
                    let shared = async move { task.await.unwrap_or(Err(StsError::Internal)) }
                        .boxed()
                        .shared();
                    slots.insert(
                        key,
                        Slot::Pending {
                            id,
                            fetch: shared.clone(),
                        },
                    );
                    shared
                }
            }
        };
        shared.await
    }

    /// Keeps a success for the next requests; forgets a failure so the next request tries again.
    fn settle(&self, key: &CacheKey, id: u64, outcome: &Fetched) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(slots.get(key), Some(Slot::Pending { id: pending, .. }) if *pending == id) {
            match outcome {
                Ok(credentials) => {
                    slots.insert(key.clone(), Slot::Ready(credentials.clone()));
                }
                Err(_) => {
                    slots.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn credentials(expiration: DateTime<Utc>, n: usize) -> StsCredentials {
        serde_json::from_value(serde_json::json!({
            "AccessKeyId": format!("STS.{n}"),
            "AccessKeySecret": "s",
            "SecurityToken": "t",
            "Expiration": expiration,
        }))
        .unwrap()
    }

    fn key(user: &str) -> CacheKey {
        (user.to_string(), "acs:oss:*:*:b/p/*".to_string())
    }

    async fn get(
        cache: &Arc<CredentialCache>,
        user: &str,
        now: DateTime<Utc>,
        calls: &Arc<AtomicUsize>,
        lifetime: i64,
    ) -> Fetched {
        let calls = calls.clone();
        cache
            .get_or_fetch(key(user), now, move || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok(credentials(now + Duration::seconds(lifetime), n))
            })
            .await
    }

    #[tokio::test]
    async fn reuses_until_shortly_before_expiry() {
        let cache = CredentialCache::new(Duration::seconds(300));
        let calls = Arc::new(AtomicUsize::new(0));
        let t0 = Utc::now();
        let first = get(&cache, "u", t0, &calls, 3600).await.unwrap();
        let again = get(&cache, "u", t0 + Duration::seconds(3000), &calls, 3600)
            .await
            .unwrap();
        assert_eq!(first.access_key_id, again.access_key_id);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        get(&cache, "other", t0, &calls, 3600).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let renewed = get(&cache, "u", t0 + Duration::seconds(3301), &calls, 3600)
            .await
            .unwrap();
        assert_ne!(first.access_key_id, renewed.access_key_id);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_call_and_errors_are_not_kept() {
        let cache = CredentialCache::new(Duration::seconds(300));
        let calls = Arc::new(AtomicUsize::new(0));
        let now = Utc::now();
        let all = futures_util::future::join_all((0..10).map(|_| get(&cache, "u", now, &calls, 3600))).await;
        assert!(all.iter().all(Result::is_ok));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let failing = |calls: Arc<AtomicUsize>| {
            let cache = cache.clone();
            async move {
                cache
                    .get_or_fetch(key("v"), now, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Err(StsError::Timeout)
                    })
                    .await
            }
        };
        let errors = Arc::new(AtomicUsize::new(0));
        let all = futures_util::future::join_all((0..5).map(|_| failing(errors.clone()))).await;
        assert!(all.iter().all(|r| matches!(r, Err(StsError::Timeout))));
        assert_eq!(errors.load(Ordering::SeqCst), 1);
        let _ = failing(errors.clone()).await;
        assert_eq!(
            errors.load(Ordering::SeqCst),
            2,
            "a failure is retried, not cached"
        );
    }
}
