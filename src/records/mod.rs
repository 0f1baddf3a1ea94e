//! Upload records for backend teams (API keys) and for app users (their own uploads).

mod export;
mod handlers;
mod query;

pub(crate) use handlers::{fetch_page, store_error};
pub(crate) use query::{RecordsQuery, RecordsRoute};

use crate::http::{Endpoint, Routes};

pub fn configure(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/v1/records/uploads").get(handlers::list))
        .add(Endpoint::new("/v1/records/uploads/{upload_id}").get(handlers::get))
        .add(Endpoint::new("/v1/records/stats").get(handlers::stats))
        .add(Endpoint::new("/v1/records/export").get(handlers::export))
        .add(Endpoint::new("/v1/me/uploads").get(handlers::mine))
        .add(Endpoint::new("/v1/me/usage").get(handlers::my_usage))
        .add(Endpoint::new("/v1/me/uploads/{upload_id}").get(handlers::mine_one));
}
