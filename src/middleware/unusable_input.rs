//! Refuses a path or query string that decodes to a NUL byte or invalid UTF-8 (`input_guard`)
//! before any handler runs.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Routes that answer errors in a shape of their own run `input_guard::check` themselves.
const OWN_ERROR_SHAPE: &[&str] = &[crate::sts::ROUTE];

pub async fn refuse(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !OWN_ERROR_SHAPE.contains(&req.path()) {
        crate::input_guard::check(req.uri().path(), req.query_string())?;
    }
    next.call(req).await
}
