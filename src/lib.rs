//! upload-signer: lets mobile apps upload straight to Alibaba Cloud OSS without holding a storage key.

pub mod auth;
pub mod callback;
pub mod cli;
pub mod credentials;
pub mod emulator;
pub mod error;
pub mod input_errors;
pub mod listener;
pub mod middleware;
pub mod ops;
pub mod rate_limit;
pub mod reconcile;
pub mod records;
pub mod routes;
pub mod settings;
pub mod signing;
pub mod spool;
pub mod startup;
pub mod store;
pub mod sts;
pub mod telemetry;
