//! `GET /v1/sts/credentials`, answering in the JSON the SDKs' credential providers parse (success
//! and failure alike), not in the service's standard error shape.
//!
//! Errors on the `access_token` query path come with HTTP 200: that path exists for the Android
//! SDK's `OSSAuthCredentialsProvider`, which reads the body only through
//! `HttpURLConnection.getInputStream()` (it throws on any status >= 400, losing the body), then
//! reports `ErrorCode` and `ErrorMessage` when `StatusCode` is not 200. The header path keeps the
//! real HTTP status.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::{SdkCredentials, StsService, UserScope};
use crate::auth::{bearer_token, AuthError, Authenticator, API_KEY_PREFIX};
use crate::error::ApiError;
use crate::http::Has;

#[derive(Serialize)]
struct Success {
    #[serde(rename = "StatusCode")]
    status_code: u16,
    #[serde(flatten)]
    credentials: SdkCredentials,
    #[serde(flatten)]
    scope: UserScope,
}

#[derive(Serialize)]
struct Failure<'a> {
    #[serde(rename = "StatusCode")]
    status_code: u16,
    #[serde(rename = "ErrorCode")]
    error_code: &'a str,
    #[serde(rename = "ErrorMessage")]
    error_message: &'a str,
}

pub async fn credentials<S: Has<StsService> + Has<Authenticator> + 'static>(
    req: HttpRequest,
    state: web::Data<S>,
) -> HttpResponse {
    let sts: &StsService = state.get();
    let auth: &Authenticator = state.get();
    match answer(&req, sts, auth).await {
        Ok(success) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(success),
        Err(err) => sdk_error(&err, built_in_provider(&req)),
    }
}

/// The built-in provider's request: the token in the query and no `Authorization` header.
fn built_in_provider(req: &HttpRequest) -> bool {
    !req.headers().contains_key(header::AUTHORIZATION)
        && url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(name, _)| name == "access_token")
}

async fn answer(req: &HttpRequest, sts: &StsService, auth: &Authenticator) -> Result<Success, ApiError> {
    if !sts.is_enabled() {
        return Err(ApiError::not_found(
            "sts_disabled",
            "STS credentials are not enabled on this server",
        ));
    }
    // The input guard leaves this route to us, so that its refusal is in the SDK's shape too.
    crate::input_guard::check(req.uri().path(), req.query_string())?;
    let token = token_of(req)?;
    if token.starts_with(API_KEY_PREFIX) {
        return Err(ApiError::forbidden(
            "user_token_required",
            "this route is for app users; API keys cannot call it",
        ));
    }
    let user = auth.authenticate(&token).await?;
    let (credentials, scope) = sts.for_user(&user.user_id).await?;
    Ok(Success {
        status_code: StatusCode::OK.as_u16(),
        credentials,
        scope,
    })
}

/// The bearer token from the `Authorization` header or, for the SDKs' built-in provider that can
/// only GET a URL, from `access_token` in the query (RFC 6750 §2.3). Never both (§2).
fn token_of(req: &HttpRequest) -> Result<String, ApiError> {
    let mut from_query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(name, _)| name == "access_token")
        .map(|(_, value)| value.into_owned());
    let query_token = from_query.next();
    if from_query.next().is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "access_token is given more than once",
        ));
    }
    let has_header = req.headers().contains_key(header::AUTHORIZATION);
    match (has_header, query_token) {
        (true, Some(_)) => Err(ApiError::bad_request(
            "invalid_request",
            "send the token in the Authorization header or as access_token, not both",
        )),
        (true, None) => Ok(bearer_token(req)?.to_string()),
        (false, Some(token)) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        (false, _) => Err(AuthError::MissingToken.into()),
    }
}

/// `{"StatusCode", "ErrorCode", "ErrorMessage"}` with the same status, code and challenge the
/// standard shape would carry; for the built-in provider, the status only in `StatusCode`.
fn sdk_error(err: &ApiError, built_in_provider: bool) -> HttpResponse {
    let mut response = HttpResponse::build(if built_in_provider {
        StatusCode::OK
    } else {
        err.status
    });
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(challenge) = err.www_authenticate.as_deref().filter(|_| !built_in_provider) {
        if let Ok(value) = HeaderValue::from_str(challenge) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
    }
    let mut response = response.json(Failure {
        status_code: err.status.as_u16(),
        error_code: err.code,
        error_message: &err.message,
    });
    // For the access log, as on every other error.
    response
        .extensions_mut()
        .insert(crate::error::ErrorCode(err.code));
    response
}
