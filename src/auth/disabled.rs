//! Disabled accounts, refused on every way in: not only at login and refresh, but also their
//! access tokens still within their lifetime and the tokens of a disabled external identity.
//!
//! Checking the database on every request would put a query on the issuing path, so the set of
//! disabled ids (small: operators disable accounts one by one) is kept in memory and reloaded in
//! the background at most every `RELOAD` — `upload-signer user disable` runs in another process,
//! and takes effect here within that interval.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::store::DynStore;

const RELOAD: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct DisabledUsers {
    store: OnceLock<DynStore>,
    ids: RwLock<Arc<HashSet<String>>>,
    next_reload: Mutex<Option<Instant>>,
}

impl DisabledUsers {
    /// Starts following the store (the authenticator is built before the store is at hand).
    pub fn follow(&self, store: DynStore) {
        let _ = self.store.set(store);
    }

    pub fn contains(self: &Arc<Self>, user_id: &str) -> bool {
        self.reload_if_due();
        self.ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(user_id)
    }

    fn reload_if_due(self: &Arc<Self>) {
        let Some(store) = self.store.get().cloned() else {
            return;
        };
        {
            let mut next = self.next_reload.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if next.is_some_and(|at| now < at) {
                return;
            }
            *next = Some(now + RELOAD);
        }
        let this = self.clone();
        tokio::spawn(async move {
            match store.disabled_user_ids().await {
                Ok(ids) => {
                    *this.ids.write().unwrap_or_else(|p| p.into_inner()) =
                        Arc::new(ids.into_iter().collect());
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reload disabled accounts; keeping the last set")
                }
            }
        });
    }
}
