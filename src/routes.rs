//! The route table: every capability's routes, added in one place. The building blocks live in
//! `http`; this file only wires the capabilities together.

use actix_web::http::Method;
use actix_web::web;

use crate::http::Routes;
use crate::settings::Settings;

/// Adds every capability's routes; returns the `(method, path)` table it registered.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) -> Vec<(Method, String)> {
    let mut routes = Routes::new(cfg);
    crate::ops::configure(&mut routes, settings.ops.metrics_addr.is_none());
    crate::auth::configure(&mut routes);
    crate::credentials::configure(&mut routes);
    crate::reconcile::configure(&mut routes);
    crate::records::configure(&mut routes);
    crate::ui::configure(&mut routes);
    crate::sts::configure(&mut routes);
    crate::webhooks::configure(&mut routes);
    crate::callback::configure(
        &mut routes,
        &settings.callback.path,
        settings.callback.max_body_bytes,
    );
    routes.into_table()
}

/// The route table alone, without starting a server.
pub fn table(settings: &Settings) -> Vec<(Method, String)> {
    let mut table = Vec::new();
    let _ = actix_web::App::new().configure(|cfg| table = configure(cfg, settings));
    table
}
