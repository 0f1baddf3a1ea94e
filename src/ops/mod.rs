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

use crate::http::{Endpoint, Has, Routes};
use crate::store::DynStore;

crate::http::needs!(DynStore, Readiness, Metrics);

/// The operator routes on the API port; `/metrics` only when it has no address of its own.
pub fn configure<S: Needs>(routes: &mut Routes, serve_metrics: bool) {
    // HEAD on the probes and the docs: load balancers and link checkers use it.
    routes
        .add(Endpoint::new("/healthz").get_and_head(health::healthz))
        .add(Endpoint::new("/readyz").get_and_head(health::readyz::<S>))
        .add(Endpoint::new("/openapi.yaml").get(docs::openapi_yaml))
        .add(Endpoint::new("/openapi.json").get(docs::openapi_json))
        .add(Endpoint::new("/docs").get_and_head(docs::docs))
        .add(Endpoint::new(docs::REDOC_ROUTE).get(docs::redoc_js));
    if serve_metrics {
        routes.add(Endpoint::new("/metrics").get(scrape::<S>));
    }
}

/// `/metrics` alone on `addr` (`ops.metrics_addr`): a scraper's port, kept off the public one.
/// Started on the caller's runtime; it stops with the process.
pub fn spawn_metrics_server<S: Needs + Send + Sync>(
    addr: SocketAddr,
    state: web::Data<S>,
) -> std::io::Result<()> {
    let server: Server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(web::resource("/metrics").route(web::get().to(scrape::<S>)))
            .default_service(web::to(crate::http::not_found))
    })
    .workers(1)
    .bind(addr)?
    .run();
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(server);
    Ok(())
}

async fn scrape<S: Has<Metrics> + Has<Readiness> + Has<DynStore> + 'static>(
    state: web::Data<S>,
) -> actix_web::HttpResponse {
    let metrics: &Metrics = state.get();
    let readiness: &Readiness = state.get();
    let store: &DynStore = state.get();
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
