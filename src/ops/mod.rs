//! The operator's view: liveness and readiness.

mod docs;
mod health;
mod metrics;

pub use docs::OPENAPI_YAML;
pub use health::Readiness;
pub use metrics::Metrics;

use actix_web::web;

use crate::routes::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/metrics").route(web::get().to(scrape)))
        .service(resource("/openapi.yaml").route(web::get().to(docs::openapi_yaml)))
        .service(resource("/openapi.json").route(web::get().to(docs::openapi_json)))
        .service(resource("/docs").route(web::get().to(docs::docs)));
}

async fn scrape(
    metrics: web::Data<Metrics>,
    readiness: web::Data<Readiness>,
    store: web::Data<crate::store::DynStore>,
) -> actix_web::HttpResponse {
    metrics.spool_depth.set(readiness.spool_depth() as i64);
    let summary = tokio::time::timeout(std::time::Duration::from_secs(1), store.pending_summary()).await;
    if let Ok(Ok((pending, oldest))) = summary {
        metrics.pending_uploads.set(pending);
        let age = oldest
            .map(|t| (chrono::Utc::now() - t).num_seconds().max(0))
            .unwrap_or(0);
        metrics.oldest_pending_age.set(age);
    }
    let (size, idle) = store.pool_status();
    metrics
        .db_connections
        .with_label_values(&["idle"])
        .set(idle as i64);
    metrics
        .db_connections
        .with_label_values(&["in_use"])
        .set(size.saturating_sub(idle as u32) as i64);
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
