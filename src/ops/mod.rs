//! The operator's view: liveness and readiness.

mod docs;
mod health;
mod metrics;

pub use docs::OPENAPI_YAML;
pub use health::Readiness;
pub use metrics::Metrics;

use std::net::SocketAddr;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::http::{Endpoint, Routes};
use crate::store::DynStore;

/// The operator routes on the API port; `/metrics` only when it has no address of its own.
pub fn configure(routes: &mut Routes, serve_metrics: bool) {
    // HEAD on the probes and the docs: load balancers and link checkers use it.
    routes
        .add(Endpoint::new("/healthz").get_and_head(health::healthz))
        .add(Endpoint::new("/readyz").get_and_head(health::readyz))
        .add(Endpoint::new("/openapi.yaml").get(docs::openapi_yaml))
        .add(Endpoint::new("/openapi.json").get(docs::openapi_json))
        .add(Endpoint::new("/docs").get_and_head(docs::docs))
        .add(Endpoint::new(docs::REDOC_ROUTE).get(docs::redoc_js));
    if serve_metrics {
        routes.add(Endpoint::new("/metrics").get(scrape));
    }
}

/// `/metrics` alone on `addr` (`ops.metrics_addr`): a scraper's port, kept off the public one.
/// Started on the caller's runtime; it stops with the process.
pub fn spawn_metrics_server(
    addr: SocketAddr,
    metrics: web::Data<Metrics>,
    readiness: web::Data<Readiness>,
    store: web::Data<DynStore>,
) -> std::io::Result<()> {
    let server: Server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .app_data(readiness.clone())
            .app_data(store.clone())
            .service(web::resource("/metrics").route(web::get().to(scrape)))
            .default_service(web::to(crate::http::not_found))
    })
    .workers(1)
    .bind(addr)?
    .run();
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(server);
    Ok(())
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
