//! `AuthUser`: a handler that takes one is only reached with a valid bearer token.

use std::sync::Arc;

use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::disabled::DisabledUsers;
use super::external::ExternalIssuers;
use super::tokens::peek_issuer;
use super::{AccessTokens, AuthError};
use crate::error::ApiError;
use crate::settings::{Settings, SettingsError};

/// Everything that can vouch for an app user.
pub struct Authenticator {
    pub access_tokens: AccessTokens,
    pub external: ExternalIssuers,
    /// Refused whatever their token says.
    pub disabled: Arc<DisabledUsers>,
}

impl Authenticator {
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        Ok(Authenticator {
            access_tokens: AccessTokens::from_settings(settings)?,
            external: ExternalIssuers::from_settings(settings)?,
            disabled: Arc::default(),
        })
    }

    /// Verifies a bearer token (ours, or a trusted external issuer's) and returns the user it names,
    /// unless that account is disabled. Async because an external issuer's keys may have to be
    /// fetched first.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, AuthError> {
        let user = self.verify(token).await?;
        if self.disabled.contains(&user.user_id) {
            return Err(AuthError::AccountDisabled);
        }
        Ok(user)
    }

    async fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        if let Some(claims) = self.access_tokens.verify(token)? {
            return Ok(AuthUser {
                user_id: claims.sub,
                issuer: claims.iss,
            });
        }
        let iss = peek_issuer(token).ok_or(AuthError::Invalid("token has no issuer"))?;
        self.external
            .verify(token, &iss)
            .await?
            .ok_or(AuthError::Invalid("issuer not trusted"))
    }
}

/// An authenticated app user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
    /// `iss` of the token that proved it: our own issuer for built-in accounts.
    pub issuer: String,
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
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Arc<Authenticator>>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let auth = auth.ok_or_else(|| ApiError::internal("authenticator not configured"))?;
            let token = token?;
            if token.starts_with(super::API_KEY_PREFIX) {
                return Err(ApiError::forbidden(
                    "user_token_required",
                    "this route is for app users; API keys cannot call it",
                ));
            }
            Ok(auth.authenticate(&token).await?)
        })
    }
}
