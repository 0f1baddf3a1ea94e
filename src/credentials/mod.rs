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

use crate::routes::{Endpoint, Routes};

pub fn configure(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/v1/profiles").get(catalogue::profiles))
        .add(Endpoint::new("/v1/uploads").post(handlers::create_upload))
        .add(Endpoint::new("/v1/uploads/sign").post(handlers::sign));
}
