//! Upload credentials: `POST /v1/uploads`, the profile catalogue, the SDK custom signer.

mod catalogue;
mod custom_signer;
mod error;
mod handlers;
mod issue;
pub mod quota;

pub use error::CredentialError;
pub use handlers::IssuanceLimiter;
pub use issue::{Issuer, UploadCredential, UploadRequest};

use crate::http::{Endpoint, Routes};
use crate::ops::Metrics;
use crate::reconcile::Ledger;
use crate::settings::Settings;
use crate::store::DynStore;
use crate::sts::StsService;

crate::http::needs!(
    Issuer,
    Settings,
    DynStore,
    Metrics,
    IssuanceLimiter,
    Ledger,
    StsService
);

pub fn configure<S: Needs>(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/v1/profiles").get(catalogue::profiles::<S>))
        .add(Endpoint::new("/v1/uploads").post(handlers::create_upload::<S>))
        .add(Endpoint::new("/v1/uploads/sign").post(handlers::sign::<S>));
}
