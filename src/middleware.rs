//! Cross-cutting request handling: a request id per request (echoed as `x-request-id`), one access
//! log line, and a guard that turns a handler panic into the standard 500 JSON.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::error::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Takes a caller's request id if it looks sane (so traces join up across services), else mints one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The original request is gone once the inner service has it (and actix forbids holding a clone
/// while routing), so an error response built here rides on a stand-in request; the dispatcher only
/// sends the response part.
fn detached_request() -> actix_web::HttpRequest {
    actix_web::test::TestRequest::default().to_http_request()
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id(&req);
    // The path only: query strings may carry tokens (`access_token` on the STS route).
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let outcome = AssertUnwindSafe(next.call(req).instrument(span.clone()))
        .catch_unwind()
        .await;
    let mut response = match outcome {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(err)) => ServiceResponse::new(detached_request(), err.error_response()),
        Err(_) => {
            let _guard = span.enter();
            let res = ApiError::internal("handler panicked").error_response();
            ServiceResponse::new(detached_request(), res)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms, "request done"));
    Ok(response)
}
