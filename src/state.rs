//! The one application state: every dependency a handler may take, built whole by `startup` (a
//! missing one is a compile error there) and registered once. Handlers reach its parts through
//! `http::Has` (see there); each field is an `Arc` or as cheap to clone.

use std::sync::Arc;

use actix_web::web;

use crate::auth::{Accounts, Authenticator};
use crate::callback::CallbackService;
use crate::credentials::{IssuanceLimiter, Issuer};
use crate::http::Has;
use crate::ops::{Metrics, Readiness};
use crate::reconcile::{Ledger, Settler};
use crate::settings::Settings;
use crate::store::DynStore;
use crate::sts::StsService;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: DynStore,
    pub readiness: Arc<Readiness>,
    pub metrics: web::Data<Metrics>,
    pub authenticator: Arc<Authenticator>,
    pub accounts: Arc<Accounts>,
    pub issuer: Arc<Issuer>,
    pub limiter: Arc<IssuanceLimiter>,
    pub ledger: Arc<Ledger>,
    pub settler: Arc<Settler>,
    pub callback: Arc<CallbackService>,
    pub sts: Arc<StsService>,
}

/// `Has<T>` for each field, lending the value behind its `Arc`.
macro_rules! lends {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(impl Has<$ty> for AppState {
            fn get(&self) -> &$ty {
                &self.$field
            }
        })*
    };
}

lends! {
    settings: Settings,
    store: DynStore,
    readiness: Readiness,
    metrics: Metrics,
    authenticator: Authenticator,
    accounts: Accounts,
    issuer: Issuer,
    limiter: IssuanceLimiter,
    ledger: Ledger,
    settler: Settler,
    callback: CallbackService,
    sts: StsService,
}
