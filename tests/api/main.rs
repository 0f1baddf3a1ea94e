//! The HTTP API, end to end: every test starts the real server on a random port with a fresh
//! database, and most run twice, once per store.

mod helpers;

mod abuse;
mod auth;
mod callback;
mod credentials;
mod custom_signer_multipart;
mod dx;
mod emulator;
mod emulator_sts;
mod faults;
mod foundation;
mod ops;
mod oss_stand_in;
mod outage;
mod reconcile;
mod records;
mod sts;
mod tcp_proxy;
mod ui;
mod webhook_receiver;
mod webhooks;
