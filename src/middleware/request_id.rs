//! A request id per request: the caller's `x-request-id` if it looks sane (so traces join up
//! across services), else a new one; kept in the request's extensions for the access log and
//! echoed on every answer, errors included.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use super::{carried, finished};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// This request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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

fn echo(headers: &mut HeaderMap, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
}

pub async fn assign<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    match next.call(req).await {
        Ok(mut res) => {
            echo(res.headers_mut(), &id);
            Ok(res)
        }
        Err(err) => {
            let mut response = finished(err);
            echo(response.headers_mut(), &id);
            Err(carried(response))
        }
    }
}
