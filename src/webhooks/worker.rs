//! The delivery worker, one per instance: fans new events out to the endpoints subscribed to
//! them, leases due deliveries, sends them, and records each attempt with what follows (delivered,
//! a retry on the schedule, or `failed`). It only talks to the database between sends, one write
//! at a time, so callbacks and issuance never wait for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::metrics::WebhookMetrics;
use super::schedule;
use super::sender::{Report, Sender};
use crate::settings::WebhookSettings;
use crate::store::webhooks::{AttemptResult, DueDelivery, WebhookAttempt, WebhookEndpoint};
use crate::store::{DbHealth, StoreError};

/// Events fanned out per pass.
const FAN_OUT_BATCH: u32 = 200;
/// How often the backlog gauges are refreshed.
const METRICS_EVERY: Duration = Duration::from_secs(5);

pub struct Worker {
    pub health: Arc<DbHealth>,
    pub sender: Sender,
    pub settings: WebhookSettings,
    pub metrics: Arc<WebhookMetrics>,
    /// This instance, as the leases name it.
    pub owner: String,
}

impl Worker {
    pub async fn run(self, cancel: CancellationToken) {
        let mut last_metrics = None::<std::time::Instant>;
        loop {
            let busy = tokio::select! {
                _ = cancel.cancelled() => break,
                pass = self.pass() => pass,
            };
            let busy = match busy {
                Ok(busy) => busy,
                Err(err) => {
                    self.health.observe::<()>(&Err(err.clone()));
                    tracing::warn!(error = %err, "webhook delivery pass failed; retrying");
                    false
                }
            };
            if last_metrics.is_none_or(|at| at.elapsed() >= METRICS_EVERY) {
                last_metrics = Some(std::time::Instant::now());
                self.refresh_metrics().await;
            }
            if !busy {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(self.settings.poll_interval()) => {}
                }
            }
        }
        // Another instance (or the next start) takes them at once instead of after the lease.
        if let Err(err) = self.health.store().release_leases(&self.owner).await {
            tracing::warn!(error = %err, "webhook leases not released; they expire on their own");
        }
    }

    /// One pass; `true` when there may be more work right away.
    async fn pass(&self) -> Result<bool, StoreError> {
        if self.health.is_down() {
            return Ok(false);
        }
        let store = self.health.store();
        let mut endpoints: HashMap<String, WebhookEndpoint> = store
            .list_endpoints()
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let events = store.unfanned_events(FAN_OUT_BATCH).await?;
        if !events.is_empty() {
            let fan_out: Vec<(String, Vec<String>)> = events
                .iter()
                .map(|event| {
                    let wanted = endpoints
                        .values()
                        .filter(|e| e.wants(event))
                        .map(|e| e.id.clone());
                    (event.id.clone(), wanted.collect())
                })
                .collect();
            store.fan_out(&fan_out, Utc::now()).await?;
        }
        let now = Utc::now();
        let lease_until = now + chrono::Duration::seconds(self.settings.lease_secs as i64);
        let due = store
            .lease_due(now, self.settings.concurrency, lease_until, &self.owner)
            .await?;
        // Signed with the endpoints as they are now, not as they were before the lease: a
        // secret rotated (or an endpoint registered by another instance) in between counts.
        if !due.is_empty() {
            endpoints = store
                .list_endpoints()
                .await?
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect();
        }
        let writes = Semaphore::new(1);
        let leased = due.len();
        futures_util::stream::iter(due)
            .map(|delivery| {
                let (endpoints, writes) = (&endpoints, &writes);
                async move {
                    let Some(endpoint) = endpoints.get(&delivery.endpoint_id) else {
                        return;
                    };
                    self.deliver(endpoint, &delivery, writes).await;
                }
            })
            .buffer_unordered(self.settings.concurrency as usize)
            .collect::<Vec<()>>()
            .await;
        Ok(leased == self.settings.concurrency as usize || events.len() == FAN_OUT_BATCH as usize)
    }

    async fn deliver(&self, endpoint: &WebhookEndpoint, delivery: &DueDelivery, writes: &Semaphore) {
        let attempted_at = Utc::now();
        let report = self
            .sender
            .send(endpoint, &delivery.event_id, &delivery.payload, attempted_at)
            .await;
        let result = self.result_of(&report, delivery);
        let attempt = WebhookAttempt {
            event_id: delivery.event_id.clone(),
            attempt: delivery.attempts + 1,
            attempted_at,
            status_code: report.status.map(i32::from),
            latency_ms: report.latency.as_millis() as i64,
            outcome: result.outcome().to_string(),
            error: report.error.clone(),
        };
        self.metrics
            .deliveries
            .with_label_values(&[result.outcome()])
            .inc();
        self.metrics.attempt_seconds.observe(report.latency.as_secs_f64());
        let _write = writes.acquire().await;
        match self
            .health
            .store()
            .finish_attempt(&self.owner, delivery, &attempt, &result)
            .await
        {
            Ok(true) => match &result {
                AttemptResult::Delivered => {
                    tracing::debug!(event_id = %delivery.event_id, endpoint_id = %endpoint.id, "webhook delivered")
                }
                other => tracing::info!(
                    event_id = %delivery.event_id, endpoint_id = %endpoint.id, attempt = attempt.attempt,
                    outcome = other.outcome(), error = ?attempt.error, "webhook attempt failed"
                ),
            },
            Ok(false) => {
                tracing::info!(event_id = %delivery.event_id, "webhook delivery was reset meanwhile (a replay)")
            }
            // The lease runs out and the delivery is tried again: at least once.
            Err(err) => {
                tracing::warn!(event_id = %delivery.event_id, error = %err, "webhook attempt not recorded")
            }
        }
    }

    fn result_of(&self, report: &Report, delivery: &DueDelivery) -> AttemptResult {
        if report.delivered() {
            return AttemptResult::Delivered;
        }
        if report.status == Some(410) {
            return AttemptResult::Gone {
                reason: "the receiver answered 410 Gone: it asked to receive no more".into(),
            };
        }
        let made = (delivery.attempts + 1) as usize;
        let jitter = rand::thread_rng().gen::<f64>();
        match schedule::next_delay(&self.settings.retry_schedule_ms, made, jitter) {
            Some(delay) => {
                let delay = schedule::with_retry_after(delay, report.retry_after);
                AttemptResult::RetryAt(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default())
            }
            None => AttemptResult::Failed {
                disable_if_failing_since: delivery.event_created_at,
                reason: format!(
                    "every attempt failed since before event {} was made, through its {made} attempts",
                    delivery.event_id
                ),
            },
        }
    }

    async fn refresh_metrics(&self) {
        let Ok(backlog) = self.health.store().backlog().await else {
            return;
        };
        self.metrics.backlog.reset();
        for b in &backlog {
            self.metrics
                .backlog
                .with_label_values(&[&b.endpoint_id])
                .set(b.pending);
        }
        let oldest = backlog.iter().filter_map(|b| b.oldest).min();
        let age = oldest
            .map(|at| (Utc::now() - at).num_seconds().max(0))
            .unwrap_or(0);
        self.metrics.oldest_undelivered.set(age);
    }
}
