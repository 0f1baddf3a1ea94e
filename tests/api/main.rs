//! The HTTP API, end to end: every test starts the real server on a random port with a fresh
//! database, and most run twice, once per store.

mod helpers;

mod credentials;
mod emulator;
mod foundation;
