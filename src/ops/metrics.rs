//! Prometheus metrics: one registry per application (tests run several in one process).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub credentials_issued: IntCounterVec,
    pub callbacks: IntCounterVec,
    pub public_keys: IntCounterVec,
    pub spool_depth: IntGauge,
    pub pending_uploads: IntGauge,
    pub oldest_pending_age: IntGauge,
    pub db_connections: IntGaugeVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    registry.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("upload_signer".into()), None).expect("registry");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Request latency by route and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method", "status"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("unique metric");
        let spool_depth =
            IntGauge::new("spool_depth", "Verified callbacks waiting for the database.").expect("gauge");
        registry
            .register(Box::new(spool_depth.clone()))
            .expect("unique metric");
        let pending_uploads = IntGauge::new(
            "pending_uploads",
            "Issued credentials not settled yet (the ledger).",
        )
        .expect("gauge");
        registry
            .register(Box::new(pending_uploads.clone()))
            .expect("unique metric");
        let oldest_pending_age = IntGauge::new(
            "oldest_pending_upload_age_seconds",
            "Age of the oldest pending upload; 0 when none.",
        )
        .expect("gauge");
        registry
            .register(Box::new(oldest_pending_age.clone()))
            .expect("unique metric");
        let db_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state."),
            &["state"],
        )
        .expect("gauge");
        registry
            .register(Box::new(db_connections.clone()))
            .expect("unique metric");
        Metrics {
            http_requests: counter(
                &registry,
                "http_requests_total",
                "Requests by route, method and status.",
                &["route", "method", "status"],
            ),
            http_duration,
            credentials_issued: counter(
                &registry,
                "credentials_issued_total",
                "Upload credentials issued, by profile and signature version.",
                &["profile", "version"],
            ),
            callbacks: counter(
                &registry,
                "callbacks_total",
                "OSS callbacks by outcome (recorded, repeated, spooled, or the refusal code).",
                &["outcome"],
            ),
            public_keys: counter(
                &registry,
                "callback_public_key_total",
                "OSS public-key lookups: cache hits (hit), fetches (fetch, fetch_failed), stale keys served (stale), refusals for a recent failure (failure_cached) or while fetches are at their bound (busy).",
                &["result"],
            ),
            spool_depth,
            pending_uploads,
            oldest_pending_age,
            db_connections,
            registry,
        }
    }

    /// Adds a capability's own metrics (webhooks) to this registry.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        if let Err(err) = self.registry.register(collector) {
            tracing::warn!(error = %err, "metric not registered");
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
