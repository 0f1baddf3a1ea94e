//! The operator's view: liveness and readiness.

mod health;

pub use health::Readiness;

use actix_web::web;

use crate::routes::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)));
}
