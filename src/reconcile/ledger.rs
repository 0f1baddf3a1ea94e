//! The upload ledger: every issued credential becomes a `pending` upload before the app hears of
//! it. A `201` from `POST /v1/uploads` means the entry is durable: committed to the database, or
//! fsync'd to the local spool while the database is away (the replayer writes it later).
//!
//! Entries arriving together share one statement and one commit (or one fsync), so issuing stays
//! fast under load. One batch is in flight at a time: while it commits, the next one collects, so
//! under load batches grow instead of commits multiplying (two writers measured 4,963/s with
//! Postgres at 106 µs per credential; one writer 7,093/s at 57 µs).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::spool::{Spool, SpoolEntry};
use crate::store::{DbHealth, PendingUpload};
use crate::tasks::BackgroundTasks;

/// Entries waiting for a batch; past this, issuing waits (back-pressure, not loss).
const QUEUE: usize = 8_192;
/// Rows per database round trip.
const BATCH: usize = 500;
/// Batches in flight at once (see the module comment).
const WRITERS: usize = 1;

#[derive(Debug, thiserror::Error)]
#[error("the ledger entry could not be made durable: the database and the spool both failed")]
pub struct LedgerError(#[source] std::io::Error);

type Reply = oneshot::Sender<Result<(), Arc<LedgerError>>>;

#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<(PendingUpload, Reply)>,
}

impl Ledger {
    /// Starts the writer under `tasks`; on shutdown it writes (or spools) every queued entry
    /// before it stops.
    pub fn start(health: Arc<DbHealth>, spool: Arc<Spool>, tasks: &BackgroundTasks) -> Ledger {
        let (tx, rx) = mpsc::channel(QUEUE);
        tasks.spawn("ledger writer", |cancel| dispatch(rx, health, spool, cancel));
        Ledger { tx }
    }

    /// Records an issued credential; returns once the entry is durable.
    pub async fn record(&self, pending: PendingUpload) -> Result<(), Arc<LedgerError>> {
        let (reply, durable) = oneshot::channel();
        let stopped = || Arc::new(LedgerError(std::io::Error::other("the ledger writer stopped")));
        self.tx.send((pending, reply)).await.map_err(|_| stopped())?;
        durable.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn dispatch(
    mut rx: mpsc::Receiver<(PendingUpload, Reply)>,
    health: Arc<DbHealth>,
    spool: Arc<Spool>,
    cancel: CancellationToken,
) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    let in_flight = TaskTracker::new();
    let mut closing = false;
    loop {
        let Ok(permit) = writers.clone().acquire_owned().await else {
            break;
        };
        let mut batch = Vec::with_capacity(BATCH);
        tokio::select! {
            biased;
            received = rx.recv_many(&mut batch, BATCH) => if received == 0 {
                break;
            },
            // Stop taking new entries, then drain what is queued.
            _ = cancel.cancelled(), if !closing => {
                closing = true;
                rx.close();
                continue;
            }
        }
        let (health, spool) = (health.clone(), spool.clone());
        in_flight.spawn(async move {
            write_batch(batch, &health, &spool).await;
            drop(permit);
        });
    }
    in_flight.close();
    in_flight.wait().await;
}

async fn write_batch(batch: Vec<(PendingUpload, Reply)>, health: &DbHealth, spool: &Spool) {
    let (entries, replies): (Vec<PendingUpload>, Vec<Reply>) = batch.into_iter().unzip();
    let result = match health.write(health.store().insert_pending(&entries)).await {
        Ok(_) => Ok(()),
        // Away, too slow or refusing: the spool keeps them and its replayer retries (a row the
        // store keeps refusing ends in the spool's dead-letter file, not nowhere).
        Err(err) => {
            if !err.is_unavailable() {
                tracing::error!(error = %err, rows = entries.len(), "ledger batch refused by the store; spooled");
            }
            let rows = entries.len();
            let spooled = spool
                .append_all(entries.into_iter().map(SpoolEntry::Issued).collect())
                .await;
            match spooled {
                Ok(()) => {
                    tracing::debug!(rows, "ledger batch spooled");
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %e, rows, "ledger batch neither stored nor spooled");
                    Err(Arc::new(LedgerError(e)))
                }
            }
        }
    };
    for reply in replies {
        let _ = reply.send(result.clone());
    }
}
