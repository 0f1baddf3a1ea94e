//! Errors actix answers itself (an extractor's payload error, a `405`, an inner service's error)
//! are plain text; these become our shape, `{"error": {"code", "message"}}`, with a code derived
//! from the status. Our own answers carry their code (the HTML pages of `/ui` too) and are left
//! as they are.
//!
//! Two doors, one [`json_error`]: `ErrorHandlers` for an answer that still has its request (it
//! names the method and path of a `405`, and a route's own body limit), and [`carried_errors`] for
//! an error that comes back without it.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ALLOW, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::{carried, finished};
use crate::error::{ApiError, ErrorCode};
use crate::http::{input_errors, payload_too_large, BodyLimit};

/// An error actix answered in plain text.
fn needs_json_error<B>(res: &HttpResponse<B>) -> bool {
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let ours = res.extensions().get::<ErrorCode>().is_some();
    (status.is_client_error() || status.is_server_error()) && !is_json && !ours
}

/// `res` rewritten into the standard shape. `request` is the request when it is still at hand;
/// `error` is the text of the error actix answered; `body_limit` the app's, when the request is gone.
fn json_error<B>(
    res: &HttpResponse<B>,
    request: Option<&HttpRequest>,
    error: Option<String>,
    body_limit: Option<BodyLimit>,
) -> HttpResponse<BoxBody> {
    let status = res.status();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            match request {
                Some(req) => format!("{} is not allowed on {}", req.method(), req.path()),
                None => "this method is not allowed here".to_string(),
            },
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            // A route's own limit (the callback's) sits above the app's in the request's data.
            let limit = request
                .and_then(|req| req.app_data::<BodyLimit>())
                .or(body_limit.as_ref())
                .map(|l| l.0);
            let message = match limit {
                Some(limit) => payload_too_large(limit).message,
                None => "the request body is too large".to_string(),
            };
            ("payload_too_large", message)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "unsupported Content-Type".to_string())
        }
        s if s.is_server_error() => (
            "internal_error",
            "the server failed to handle the request".to_string(),
        ),
        _ => (
            "bad_request",
            error
                .map(|e| input_errors::plain(&e))
                .unwrap_or_else(|| "the request is invalid".to_string()),
        ),
    };
    let mut response = ApiError::new(status, code, message).error_response();
    if let Some(allow) = res.headers().get(ALLOW) {
        response.headers_mut().insert(ALLOW, allow.clone());
    }
    response
}

/// Rewrites a plain-text error answer that still has its request.
fn rewrite<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if !needs_json_error(res.response()) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let error = res.response().error().map(|e| e.to_string());
    let json = json_error(res.response(), Some(res.request()), error, None);
    Ok(ErrorHandlerResponse::Response(
        res.into_response(json).map_into_right_body(),
    ))
}

/// actix's `ErrorHandlers`, rewriting every plain-text 4xx and 5xx answer.
pub fn handlers<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(rewrite)
}

/// Rewrites an error that comes back without its request (an inner service's error; a panic's
/// answer is ours already) into a finished answer in the standard shape.
pub async fn carried_errors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let body_limit = req.app_data::<BodyLimit>().copied();
    next.call(req).await.map_err(|err| {
        let error = err.to_string();
        let response = finished(err);
        if needs_json_error(&response) {
            carried(json_error(&response, None, Some(error), body_limit))
        } else {
            carried(response)
        }
    })
}
