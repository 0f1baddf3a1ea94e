//! The background reconciler (and `upload-signer reconcile`): pending uploads whose credential
//! expired without a callback are checked against the bucket and settled.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::settle::{Settled, Settler};
use crate::settings::ReconcileSettings;
use crate::store::{StoreError, UploadSource, UploadStatus};

#[derive(Debug, Default, Clone, Serialize)]
pub struct PassReport {
    pub examined: u32,
    pub completed: u32,
    pub rejected: u32,
    pub abandoned: u32,
    pub errors: u32,
}

pub struct Reconciler {
    pub settler: Arc<Settler>,
    pub settings: ReconcileSettings,
    /// Names this instance in its leases.
    pub owner: String,
}

impl Reconciler {
    pub fn from_settings(settings: &crate::settings::Settings, settler: Arc<Settler>) -> Arc<Reconciler> {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        Arc::new(Reconciler {
            settler,
            settings: settings.reconcile.clone(),
            owner: format!("{host}:{}", std::process::id()),
        })
    }

    /// One pass over at most `settings.batch` expired pending uploads.
    pub async fn run_once(&self) -> Result<PassReport, StoreError> {
        let now = Utc::now();
        let expired_before = now - chrono::Duration::seconds(self.settings.grace_secs);
        let leased = self
            .settler
            .store
            .lease_expired_pending(
                expired_before,
                self.settings.batch,
                self.settings.lease_secs,
                &self.owner,
            )
            .await?;
        let mut report = PassReport::default();
        for record in leased {
            report.examined += 1;
            match self.settler.settle(&record, UploadSource::Reconciler, now).await {
                Ok(Settled::Recorded(r)) if r.status == UploadStatus::Rejected => report.rejected += 1,
                Ok(Settled::Recorded(_)) => report.completed += 1,
                Ok(Settled::Missing) => {
                    let reason = "credential expired and no object was stored";
                    if self
                        .settler
                        .store
                        .mark_abandoned(&record.upload_id, reason)
                        .await?
                    {
                        report.abandoned += 1;
                    }
                }
                Err(err) => {
                    // The lease runs out and a later pass tries again.
                    tracing::warn!(upload_id = %record.upload_id, error = %err, "reconcile failed");
                    report.errors += 1;
                }
            }
        }
        if report.examined > 0 {
            tracing::info!(?report, "reconcile pass");
        }
        Ok(report)
    }

    /// Runs a pass every `reconcile.interval_secs` until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(self.settings.interval_secs.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(err) = self.run_once().await {
                tracing::warn!(error = %err, "reconcile pass skipped");
            }
        }
    }
}
