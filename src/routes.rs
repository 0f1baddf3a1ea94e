//! The route table: every capability's routes, added in one place, for the one application state.
//! The building blocks live in `http`; this file only wires the capabilities together.

use actix_web::http::Method;
use actix_web::web;

use crate::http::Routes;
use crate::settings::Settings;
use crate::state::AppState;

/// Adds every capability's routes, their handlers taking `web::Data<AppState>`; returns the `(method, path)` table it registered.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) -> Vec<(Method, String)> {
    let mut routes = Routes::new(cfg);
    crate::ops::configure::<AppState>(&mut routes, settings.ops.metrics_addr.is_none());
    crate::auth::configure::<AppState>(&mut routes);
    crate::credentials::configure::<AppState>(&mut routes);
    crate::reconcile::configure::<AppState>(&mut routes);
    crate::records::configure::<AppState>(&mut routes);
    crate::ui::configure::<AppState>(&mut routes);
    crate::sts::configure::<AppState>(&mut routes);
    crate::webhooks::configure::<AppState>(&mut routes);
    crate::callback::configure::<AppState>(
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
