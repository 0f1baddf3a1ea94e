//! The OSS upload callback: verify OSS's signature, bind the callback to a credential we
//! issued, record the upload exactly once (spooling it while the database is away), answer.

mod binding;
mod error;
mod public_keys;
mod receive;

pub use error::CallbackError;
pub use public_keys::PublicKeys;
pub use receive::CallbackService;

use actix_web::web;

use crate::http::{BodyLimit, Endpoint, Routes};

crate::http::needs!(CallbackService);

pub fn configure<S: Needs>(routes: &mut Routes, path: &str, max_body_bytes: usize) {
    routes.add(
        Endpoint::new(path)
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .app_data(BodyLimit(max_body_bytes))
            .post(receive::receive::<S>),
    );
}
