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

use crate::routes::resource;

pub fn configure(path: &str, max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.service(
            resource(path)
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .route(web::post().to(receive::receive)),
        );
    }
}
