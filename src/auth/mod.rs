//! Who is calling: app users (access tokens we mint, or JWTs of a trusted identity provider).

mod error;
mod extractor;
mod tokens;

pub use error::AuthError;
/// API keys of backend services start with this; app-user routes refuse them on sight.
pub const API_KEY_PREFIX: &str = "usk_";

pub(crate) use extractor::bearer_token;
pub use extractor::{AuthUser, Authenticator};
pub use tokens::{AccessClaims, AccessTokens};
