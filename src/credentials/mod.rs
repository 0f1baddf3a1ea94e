//! Upload credentials: profiles, key templates, `POST /v1/uploads`, the SDK custom signer.

mod catalogue;
mod custom_signer;
mod error;
mod handlers;
mod issue;
mod key_template;
mod profile;
pub mod quota;

pub use error::CredentialError;
pub use handlers::IssuanceLimiter;
pub use issue::{Issuer, UploadCredential, UploadRequest};
pub use key_template::encode_user_id;
pub use profile::{Profile, Profiles, SignatureVersion, UploadMethod};

use crate::http::{Endpoint, Routes};

pub fn configure(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/v1/profiles").get(catalogue::profiles))
        .add(Endpoint::new("/v1/uploads").post(handlers::create_upload))
        .add(Endpoint::new("/v1/uploads/sign").post(handlers::sign));
}
