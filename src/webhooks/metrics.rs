//! Webhook metrics, in the application's registry.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::ops::Metrics;

pub struct WebhookMetrics {
    /// Attempts by outcome: delivered, retrying, failed.
    pub deliveries: IntCounterVec,
    pub attempt_seconds: Histogram,
    pub oldest_undelivered: IntGauge,
    pub backlog: IntGaugeVec,
}

impl WebhookMetrics {
    pub fn new(metrics: &Metrics) -> WebhookMetrics {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Webhook delivery attempts by outcome (delivered, retrying, failed).",
            ),
            &["outcome"],
        )
        .expect("valid counter");
        let attempt_seconds = Histogram::with_opts(
            HistogramOpts::new("webhook_attempt_duration_seconds", "Latency of webhook attempts.")
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0]),
        )
        .expect("valid histogram");
        let oldest_undelivered = IntGauge::new(
            "webhook_oldest_undelivered_event_age_seconds",
            "Age of the oldest event not yet delivered to an endpoint; 0 when none.",
        )
        .expect("gauge");
        let backlog = IntGaugeVec::new(
            Opts::new("webhook_backlog", "Undelivered events per endpoint."),
            &["endpoint"],
        )
        .expect("gauge");
        metrics.register(Box::new(deliveries.clone()));
        metrics.register(Box::new(attempt_seconds.clone()));
        metrics.register(Box::new(oldest_undelivered.clone()));
        metrics.register(Box::new(backlog.clone()));
        WebhookMetrics {
            deliveries,
            attempt_seconds,
            oldest_undelivered,
            backlog,
        }
    }
}
