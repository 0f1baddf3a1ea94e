//! Never lose an upload: the ledger of issued credentials, client confirmation, reconciliation
//! against the bucket, and post-upload checks.

mod ledger;

pub use ledger::Ledger;
