//! Webhooks: backend services register endpoints and receive signed Standard Webhooks events
//! (`upload.completed`, `.rejected`, `.abandoned`, `.updated`) from the durable outbox the store
//! writes with every record change, at least once, retried for about three days.

mod handlers;
pub mod manage;
pub mod metrics;
pub mod schedule;
mod sender;
pub mod signature;
pub mod target;
mod worker;

use std::sync::Arc;

use actix_web::http::Method;

use crate::http::{Endpoint, Routes};
use crate::ops::Metrics;
use crate::settings::Settings;
use crate::store::DbHealth;
use crate::store::DynStore;
use crate::tasks::BackgroundTasks;

crate::http::needs!(DynStore, Settings);

pub fn configure<S: Needs>(routes: &mut Routes) {
    routes
        .add(
            Endpoint::new("/v1/webhooks/endpoints")
                .get(handlers::list::<S>)
                .post(handlers::create::<S>),
        )
        .add(
            Endpoint::new("/v1/webhooks/endpoints/{endpoint_id}")
                .get(handlers::get::<S>)
                .on(Method::PATCH, handlers::update::<S>)
                .on(Method::DELETE, handlers::delete::<S>),
        )
        .add(Endpoint::new("/v1/webhooks/endpoints/{endpoint_id}/rotate-secret").post(handlers::rotate::<S>))
        .add(Endpoint::new("/v1/webhooks/endpoints/{endpoint_id}/attempts").get(handlers::attempts::<S>))
        .add(Endpoint::new("/v1/webhooks/endpoints/{endpoint_id}/replay").post(handlers::replay::<S>));
}

/// Starts this instance's delivery worker, when `webhooks.deliver`.
pub fn start(
    settings: &Settings,
    health: Arc<DbHealth>,
    metrics: &Metrics,
    tasks: &BackgroundTasks,
) -> anyhow::Result<()> {
    if !settings.webhooks.deliver {
        return Ok(());
    }
    let worker = worker::Worker {
        health,
        sender: sender::Sender::new(&settings.webhooks, handlers::policy(settings))?,
        settings: settings.webhooks.clone(),
        metrics: Arc::new(metrics::WebhookMetrics::new(metrics)),
        owner: format!("webhooks-{}", uuid::Uuid::new_v4().simple()),
    };
    tasks.spawn("webhook delivery", |cancel| worker.run(cancel));
    Ok(())
}
