//! Who is calling: app users (access tokens we mint, or JWTs of a trusted identity provider).

mod error;
mod extractor;
mod tokens;

pub use error::AuthError;
pub use extractor::{AuthUser, Authenticator};
pub use tokens::{AccessClaims, AccessTokens};
