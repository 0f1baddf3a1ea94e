//! Upload credentials: profiles, key templates, `POST /v1/uploads`, the SDK custom signer.

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
pub use profile::{Profile, Profiles, SignatureVersion};

use actix_web::web;

use crate::routes::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/uploads").route(web::post().to(handlers::create_upload)))
        .service(resource("/v1/uploads/sign").route(web::post().to(handlers::sign)));
}
