//! What the service believes about the database right now, so that no request waits on a
//! database known to be down.
//!
//! A write that fails as `Unavailable` (or takes longer than `database.write_timeout_ms`) marks
//! the database down; from then on callbacks and ledger entries go straight to the spool, and
//! one background probe pings every `database.probe_interval_ms` until it answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{DynStore, StoreError};

pub struct DbHealth {
    store: DynStore,
    /// Migrations applied: until then nothing is written (a replayed row would find no table).
    migrated: AtomicBool,
    down: AtomicBool,
    /// Wakes the probe when the database goes down.
    went_down: Notify,
    /// Wakes whoever waits for the database to come back (the spool replayer).
    came_back: Notify,
    write_timeout: Duration,
    probe_interval: Duration,
}

impl DbHealth {
    pub fn new(store: DynStore, write_timeout: Duration, probe_interval: Duration) -> Arc<DbHealth> {
        Arc::new(DbHealth {
            store,
            migrated: AtomicBool::new(false),
            down: AtomicBool::new(false),
            went_down: Notify::new(),
            came_back: Notify::new(),
            write_timeout,
            probe_interval,
        })
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    pub fn set_migrated(&self) {
        self.migrated.store(true, Ordering::Release);
        self.came_back.notify_waiters();
    }

    pub fn is_migrated(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }

    /// Writes should not be tried now: the database is away, or not migrated yet.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire) || !self.is_migrated()
    }

    pub fn mark_down(&self, why: &StoreError) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %why, "database marked down; writes go to the spool until it answers");
            self.went_down.notify_one();
        }
    }

    /// Notes what a database call returned: an outage marks the database down.
    pub fn observe<T>(&self, result: &Result<T, StoreError>) {
        if let Err(err) = result {
            if err.is_unavailable() {
                self.mark_down(err);
            }
        }
    }

    /// Runs a write on the request path: refused at once while the database is known to be
    /// down, and counted as an outage when it exceeds the write timeout.
    pub async fn write<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.is_down() {
            return Err(StoreError::unavailable("database known to be down"));
        }
        let result = tokio::time::timeout(self.write_timeout, write)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::unavailable(format!(
                    "no answer within {} ms",
                    self.write_timeout.as_millis()
                )))
            });
        self.observe(&result);
        result
    }

    /// Resolves when the database has been seen answering again after an outage, or has just
    /// been migrated.
    pub async fn recovered(&self) {
        self.came_back.notified().await
    }

    /// The probe: sleeps until the database is marked down, then pings until it answers.
    pub async fn run_probe(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.went_down.notified() => {}
            }
            while self.down.load(Ordering::Acquire) {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(self.probe_interval) => {}
                }
                let ping = tokio::time::timeout(self.write_timeout, self.store.ping()).await;
                if matches!(ping, Ok(Ok(()))) {
                    self.down.store(false, Ordering::Release);
                    tracing::info!("database answers again");
                    self.came_back.notify_waiters();
                }
            }
        }
    }
}
