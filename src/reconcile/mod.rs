//! Never lose an upload: the ledger of issued credentials, client confirmation, reconciliation
//! against the bucket, and post-upload checks.

mod confirm;
mod ledger;
mod oss_client;
mod reconciler;
mod settle;

pub use ledger::Ledger;
pub use oss_client::{ObjectInfo, OssClient, OssError};
pub use reconciler::{PassReport, Reconciler};
pub use settle::{Settled, Settler};

use actix_web::web;

use crate::routes::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/uploads/{upload_id}/complete").route(web::post().to(confirm::complete)));
}
