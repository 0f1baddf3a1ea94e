//! A handler's panic answers the standard 500 (a bug is logged with its request, not a dropped
//! connection). The request is gone by then, so the answer travels as an error.

use std::panic::AssertUnwindSafe;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use futures_util::FutureExt;

use crate::error::ApiError;

pub async fn catch_panic<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(answer) => answer,
        Err(_) => Err(ApiError::internal("handler panicked").into()),
    }
}
