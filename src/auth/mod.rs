//! Who is calling: app users (access tokens we mint, or JWTs of a trusted identity provider).
//!
//! - `usernames`, `passwords`: the rules and Argon2id hashing of built-in accounts
//! - `accounts`: register, login, refresh-token rotation with reuse detection, logout
//! - `refresh`: opaque refresh tokens and their stored hashes
//! - `limits`: failed-login backoff and ceilings, registration limits
//! - `tokens`: our own access tokens (HS256, key ids for rotation)
//! - `verified`: the bounded memo of access tokens already verified
//! - `external`, `jwks`: trusted external issuers (shared secret, PEM public key, or JWKS URL)
//! - `disabled`: the in-memory set of disabled accounts every authentication checks
//! - `extractor`: `Authenticator` and the `AuthUser` extractor
//! - `handlers`: the HTTP routes

mod accounts;
pub mod api_keys;
mod disabled;
mod error;
mod external;
mod extractor;
mod handlers;
mod jwks;
mod limits;
mod passwords;
mod refresh;
mod tokens;
mod usernames;
mod verified;

pub use accounts::{set_account_disabled, Accounts, TokenPair};
pub use api_keys::{ApiKey, KnownKeys};
pub use error::AuthError;
/// API keys of backend services start with this; app-user routes refuse them on sight.
pub const API_KEY_PREFIX: &str = "usk_";

pub use external::ExternalIssuers;
pub(crate) use extractor::bearer_token;
pub use extractor::{AuthUser, Authenticator};
pub use passwords::PasswordError;
pub use tokens::{AccessClaims, AccessTokens};
pub use usernames::{Username, UsernameError};

use crate::http::{Endpoint, Routes};

crate::http::needs!(Accounts);

/// `/v1/auth/*` and `/v1/me`.
pub fn configure<S: Needs>(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/v1/auth/register").post(handlers::register::<S>))
        .add(Endpoint::new("/v1/auth/token").post(handlers::token::<S>))
        .add(Endpoint::new("/v1/auth/refresh").post(handlers::refresh::<S>))
        .add(Endpoint::new("/v1/auth/logout").post(handlers::logout::<S>))
        .add(Endpoint::new("/v1/me").get(handlers::me));
}
