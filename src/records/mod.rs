//! Upload records for backend teams (API keys) and for app users (their own uploads).

pub mod api_keys;
mod export;
mod handlers;
mod query;

pub use api_keys::{ApiKey, UsageTracker};

use actix_web::web;

use crate::routes::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/records/uploads").route(web::get().to(handlers::list)))
        .service(resource("/v1/records/uploads/{upload_id}").route(web::get().to(handlers::get)))
        .service(resource("/v1/records/stats").route(web::get().to(handlers::stats)))
        .service(resource("/v1/records/export").route(web::get().to(handlers::export)))
        .service(resource("/v1/me/uploads").route(web::get().to(handlers::mine)))
        .service(resource("/v1/me/usage").route(web::get().to(handlers::my_usage)))
        .service(resource("/v1/me/uploads/{upload_id}").route(web::get().to(handlers::mine_one)));
}
