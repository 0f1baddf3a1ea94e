//! The upload ledger: every issued credential becomes a `pending` upload, written behind the
//! request in batches so that issuing never waits for the database, and spooled durably while the
//! database is away. A callback, a client confirmation or the reconciler later settles it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::spool::{Spool, SpoolEntry};
use crate::store::{DynStore, PendingUpload};

/// Issued credentials waiting for the writer; past this the request path spools them itself.
const QUEUE: usize = 65_536;
/// Rows per database round trip.
const BATCH: usize = 500;

#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<PendingUpload>,
    spool: Arc<Spool>,
}

impl Ledger {
    /// Starts the writer task.
    pub fn start(store: DynStore, spool: Arc<Spool>) -> (Ledger, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_batches(rx, store, spool.clone()));
        (Ledger { tx, spool }, writer)
    }

    /// Queues an issued credential; never waits for the database.
    pub fn record(&self, pending: PendingUpload) {
        if let Err(err) = self.tx.try_send(pending) {
            // The writer is far behind (or gone): keep the entry durable anyway, off the hot path.
            let pending = match err {
                mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p) => p,
            };
            let spool = self.spool.clone();
            tokio::spawn(async move {
                if let Err(e) = spool.append(SpoolEntry::Issued(pending)).await {
                    tracing::error!(error = %e, "ledger entry lost: queue full and spool unwritable");
                }
            });
        }
    }
}

async fn write_batches(mut rx: mpsc::Receiver<PendingUpload>, store: DynStore, spool: Arc<Spool>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let written = tokio::time::timeout(Duration::from_secs(5), store.insert_pending(&batch)).await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(err)) if !err.is_unavailable() => {
                tracing::error!(error = %err, rows = batch.len(), "ledger batch refused by the store");
            }
            // Unreachable or too slow: the spool's replayer writes them later.
            _ => {
                let entries = batch.iter().cloned().map(SpoolEntry::Issued).collect();
                if let Err(e) = spool.append_all(entries).await {
                    tracing::error!(error = %e, rows = batch.len(), "ledger batch lost: database and spool unwritable");
                } else {
                    tracing::warn!(rows = batch.len(), "database unavailable; ledger batch spooled");
                }
            }
        }
        batch.clear();
    }
}
