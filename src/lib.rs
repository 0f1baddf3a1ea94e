//! upload-signer: lets mobile apps upload straight to Alibaba Cloud OSS without holding a storage key.

pub mod auth;
pub mod callback;
pub mod cli;
pub mod client_ip;
pub mod clients;
pub mod completion;
pub mod credentials;
pub mod error;
pub mod http;
pub mod input_guard;
pub mod limits;
pub mod listener;
pub mod middleware;
pub mod ops;
pub mod profiles;
pub mod reconcile;
pub mod records;
pub mod routes;
pub mod settings;
pub mod spool;
pub mod startup;
pub mod state;
pub mod store;
pub mod sts;
pub mod tasks;
pub mod telemetry;
pub mod ui;
pub mod webhooks;

#[cfg(test)]
mod walls;

// The workspace's other members, under the paths they had as modules.
pub use upload_signer_emulator as emulator;
pub use upload_signer_signing as signing;
