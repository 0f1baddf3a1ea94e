//! The access log: the request's span (its id, method and path; never the query string, which
//! may carry tokens such as `access_token` on the STS route) and one `answered` event per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use tracing::Instrument;

use super::request_id::RequestId;
use super::{carried, finished};
use crate::error::{ErrorCause, ErrorCode};

/// The access log: one line per request (in the request's span: id, method, path), with the error
/// code of a 4xx/5xx and the duration in whole microseconds. Probes come every few seconds from
/// load balancers, so they log at debug.
///
/// A cause (an internal error, an unreachable database) is written here, once, with the request id
/// of the span; a 500 with a cause is an error, other 5xx warnings.
fn log_request<B>(route: &str, response: &HttpResponse<B>, duration_us: u64) {
    let status = response.status().as_u16();
    // An absent code or cause (`None`) writes no field.
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let cause = response.extensions().get::<ErrorCause>().map(ErrorCause::chain);
    macro_rules! answered {
        ($level:expr) => {
            tracing::event!(
                $level,
                status,
                code,
                cause = cause.as_deref(),
                duration_us,
                "answered"
            )
        };
    }
    if matches!(route, "/healthz" | "/readyz") {
        answered!(tracing::Level::DEBUG)
    } else if status == 500 && cause.is_some() {
        answered!(tracing::Level::ERROR)
    } else if status >= 500 {
        answered!(tracing::Level::WARN)
    } else {
        answered!(tracing::Level::INFO)
    }
}

pub async fn log<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let answer = next.call(req).instrument(span.clone()).await;
    let duration_us = started.elapsed().as_micros() as u64;
    match answer {
        Ok(res) => {
            span.in_scope(|| log_request(&route, res.response(), duration_us));
            Ok(res)
        }
        Err(err) => {
            let response = finished(err);
            span.in_scope(|| log_request(&route, &response, duration_us));
            Err(carried(response))
        }
    }
}
