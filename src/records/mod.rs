//! Upload records for backend teams (API keys) and for app users (their own uploads).

mod export;
mod handlers;
mod query;

pub(crate) use handlers::{fetch_page, store_error};
pub(crate) use query::{RecordsQuery, RecordsRoute};

use crate::http::{Endpoint, Routes};
use crate::settings::Settings;
use crate::store::DynStore;

crate::http::needs!(DynStore, Settings);

pub fn configure<S: Needs>(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/v1/records/uploads").get(handlers::list::<S>))
        .add(Endpoint::new("/v1/records/uploads/{upload_id}").get(handlers::get::<S>))
        .add(Endpoint::new("/v1/records/stats").get(handlers::stats::<S>))
        .add(Endpoint::new("/v1/records/export").get(handlers::export::<S>))
        .add(Endpoint::new("/v1/me/uploads").get(handlers::mine::<S>))
        .add(Endpoint::new("/v1/me/usage").get(handlers::my_usage::<S>))
        .add(Endpoint::new("/v1/me/uploads/{upload_id}").get(handlers::mine_one::<S>));
}
