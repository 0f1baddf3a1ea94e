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

use crate::routes::{Endpoint, Routes};

pub fn configure(routes: &mut Routes) {
    routes.add(Endpoint::new("/v1/uploads/{upload_id}/complete").post(confirm::complete));
}
