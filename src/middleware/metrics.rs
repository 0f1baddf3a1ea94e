//! Counts each request and times it, per route pattern (never the raw path: its ids would make a
//! series per upload), method and status.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::ops::Metrics;

pub async fn count<B: MessageBody + 'static>(
    metrics: Arc<Metrics>,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let answer = next.call(req).await;
    let status = match &answer {
        Ok(res) => res.status(),
        // Reading the status leaves a carried answer in its error.
        Err(err) => err.as_response_error().status_code(),
    };
    let status = status.as_u16().to_string();
    let labels = [route.as_str(), method.as_str(), status.as_str()];
    metrics.http_requests.with_label_values(&labels).inc();
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    answer
}
