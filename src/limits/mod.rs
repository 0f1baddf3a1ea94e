//! Request limits: registration, login and issuance.
//!
//! Each limit is a pure rule ([`Gcra`], [`Backoff`]) over a small state per key. With Postgres the
//! states live in one table and every instance shares them (N instances are not N times looser);
//! on SQLite, whose file one process owns, they live in this process's memory. A shared limit
//! whose database cannot be reached falls back to memory rather than refusing everyone.

mod backoff;
mod gcra;
mod memory;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use backoff::Backoff;
pub use gcra::Gcra;

use crate::store::{Backend, DynStore, LimitState};

/// A limit's arithmetic: how a state changes when a request is counted or given back.
pub trait Rule: Send + Sync {
    /// Counts one request at `now` (µs), or refuses it with the time to wait.
    fn take(&self, state: Option<LimitState>, now: i64) -> Result<Option<LimitState>, Duration>;
    /// Undoes one [`take`](Rule::take) (a request that turned out not to count).
    fn give_back(&self, state: Option<LimitState>) -> Option<LimitState>;
    /// How long a state still matters after it was written.
    fn ttl(&self) -> Duration;
}

pub struct Limits {
    shared: Option<DynStore>,
    memory: memory::MemoryLimits,
    /// After a shared step fails, memory is used until this instant (µs) without asking the
    /// database again, so an outage does not add a timeout to every limited request.
    shared_down_until: AtomicI64,
}

/// How long to count in memory after the shared store failed.
const RETRY_SHARED_AFTER_US: i64 = 5_000_000;

/// How often expired shared states are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(300);

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Limits {
    /// Shared through `store` when it is Postgres; in memory otherwise.
    pub fn new(store: &DynStore) -> Arc<Limits> {
        let shared = (store.backend() == Backend::Postgres).then(|| store.clone());
        if let Some(store) = shared.clone() {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PURGE_EVERY).await;
                    if let Err(err) = store.purge_limits(now_us()).await {
                        tracing::debug!(error = %err, "purging expired limits failed");
                    }
                }
            });
        }
        Arc::new(Limits {
            shared,
            memory: memory::MemoryLimits::default(),
            shared_down_until: AtomicI64::new(0),
        })
    }

    /// Counts one request under (`name`, `key`), or says how long to wait.
    pub async fn take(&self, name: &str, key: &str, rule: &dyn Rule) -> Result<(), Duration> {
        self.step(name, key, rule.ttl(), &|state, now| rule.take(state, now))
            .await
    }

    /// Undoes one counted request.
    pub async fn give_back(&self, name: &str, key: &str, rule: &dyn Rule) {
        let _ = self
            .step(name, key, rule.ttl(), &|state, _| Ok(rule.give_back(state)))
            .await;
    }

    /// Forgets the key's state altogether.
    pub async fn forget(&self, name: &str, key: &str) {
        let _ = self.step(name, key, Duration::ZERO, &|_, _| Ok(None)).await;
    }

    async fn step(
        &self,
        name: &str,
        key: &str,
        ttl: Duration,
        step: &(dyn Fn(Option<LimitState>, i64) -> Result<Option<LimitState>, Duration> + Send + Sync),
    ) -> Result<(), Duration> {
        let now = now_us();
        let expires = now.saturating_add(ttl.as_micros().try_into().unwrap_or(i64::MAX));
        if let Some(store) = &self.shared {
            if now >= self.shared_down_until.load(Ordering::Relaxed) {
                match store.step_limit(name, key, now, expires, step).await {
                    Ok(outcome) => return outcome,
                    Err(err) => {
                        tracing::warn!(error = %err, limit = name, "shared limits unavailable; counting in memory for a while");
                        self.shared_down_until
                            .store(now + RETRY_SHARED_AFTER_US, Ordering::Relaxed);
                    }
                }
            }
        }
        self.memory.step(name, key, now, expires, step)
    }
}
