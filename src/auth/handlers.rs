//! HTTP glue for `/v1/auth/*` and `/v1/me`.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use chrono::Utc;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::accounts::{Accounts, TokenPair};
use super::AuthUser;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::http::Has;
use crate::http::Json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    refresh_token: SecretString,
    /// Revoke every login of the user, not just this one.
    #[serde(default)]
    everywhere: bool,
}

#[derive(Serialize)]
struct TokenResponse {
    token_type: &'static str,
    access_token: String,
    expires_in: i64,
    refresh_token: String,
    refresh_expires_in: i64,
    user_id: String,
}

fn tokens(pair: TokenPair) -> HttpResponse {
    let now = Utc::now();
    HttpResponse::Ok()
        // RFC 6749 §5.1: responses with tokens must not be cached.
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(TokenResponse {
            token_type: "Bearer",
            access_token: pair.access_token,
            expires_in: (pair.access_expires_at - now).num_seconds().max(0),
            refresh_token: pair.refresh_token,
            refresh_expires_in: (pair.refresh_expires_at - now).num_seconds().max(0),
            user_id: pair.user_id,
        })
}

pub async fn register<S: Has<Accounts> + 'static>(
    client: ClientIp,
    state: web::Data<S>,
    body: Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let accounts: &Accounts = state.get();
    let Credentials { username, password } = body.into_inner();
    let user = accounts.register(&username, password, client.0).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "user_id": user.id,
        "username": user.username,
    })))
}

pub async fn token<S: Has<Accounts> + 'static>(
    client: ClientIp,
    state: web::Data<S>,
    body: Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let accounts: &Accounts = state.get();
    let Credentials { username, password } = body.into_inner();
    Ok(tokens(accounts.login(&username, password, client.0).await?))
}

pub async fn refresh<S: Has<Accounts> + 'static>(
    state: web::Data<S>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let accounts: &Accounts = state.get();
    use secrecy::ExposeSecret;
    Ok(tokens(
        accounts.refresh(body.refresh_token.expose_secret()).await?,
    ))
}

pub async fn logout<S: Has<Accounts> + 'static>(
    state: web::Data<S>,
    body: Json<LogoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let accounts: &Accounts = state.get();
    use secrecy::ExposeSecret;
    accounts
        .logout(body.refresh_token.expose_secret(), body.everywhere)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "user_id": user.user_id,
        "issuer": user.issuer,
    }))
}
