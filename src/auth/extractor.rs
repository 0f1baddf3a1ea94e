//! `AuthUser`: a handler that takes one is only reached with a valid bearer token.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::{web, FromRequest, HttpRequest};

use super::{AccessTokens, AuthError};
use crate::error::ApiError;

/// Everything that can vouch for an app user.
pub struct Authenticator {
    pub access_tokens: AccessTokens,
}

impl Authenticator {
    /// Verifies a bearer token and returns the user id it names.
    pub fn authenticate(&self, token: &str) -> Result<AuthUser, AuthError> {
        match self.access_tokens.verify(token)? {
            Some(claims) => Ok(AuthUser { user_id: claims.sub }),
            None => Err(AuthError::Invalid("issuer not trusted")),
        }
    }
}

/// An authenticated app user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
}

pub(crate) fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?;
    let value = header.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token.trim())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = (|| {
            let auth = req
                .app_data::<web::Data<Arc<Authenticator>>>()
                .ok_or_else(|| ApiError::internal("authenticator not configured"))?;
            let token = bearer_token(req)?;
            if token.starts_with(super::API_KEY_PREFIX) {
                return Err(ApiError::forbidden(
                    "user_token_required",
                    "this route is for app users; API keys cannot call it",
                ));
            }
            Ok(auth.authenticate(token)?)
        })();
        ready(result)
    }
}
