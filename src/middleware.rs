//! Cross-cutting request handling: a request id per request (echoed as `x-request-id`), one access
//! log line, and a guard that turns a handler panic into the standard 500 JSON.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use futures_util::FutureExt;
use tracing::Instrument;

use crate::error::{ApiError, ErrorCause, ErrorCode};
use crate::routes::BodyLimit;

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

/// An error actix answered itself (an extractor's payload error, say) in plain text. Our own
/// answers carry their code (the HTML pages of `/ui` too) and are left as they are.
fn needs_json_error(res: &HttpResponse<BoxBody>) -> bool {
    let status = res.status();
    let is_json = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let ours = res.extensions().get::<ErrorCode>().is_some();
    (status.is_client_error() || status.is_server_error()) && !is_json && !ours
}

/// Rewrites such an error into the standard shape, with a code derived from the status.
/// `request` is the request when it is still at hand (it names the method and path of a `405`,
/// and a route's own body limit); `error` is the text of the error actix answered.
fn json_error(
    res: &HttpResponse<BoxBody>,
    request: Option<&HttpRequest>,
    error: Option<String>,
    body_limit: Option<BodyLimit>,
) -> HttpResponse<BoxBody> {
    use actix_web::http::StatusCode;
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
                Some(limit) => crate::routes::payload_too_large(limit).message,
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
                .map(|e| crate::input_errors::plain(&e))
                .unwrap_or_else(|| "the request is invalid".to_string()),
        ),
    };
    let mut response = ApiError::new(status, code, message).error_response();
    if let Some(allow) = res.headers().get(actix_web::http::header::ALLOW) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, allow.clone());
    }
    response
}

/// The access log: one line per request (in the request's span: id, method, path), with the error
/// code of a 4xx/5xx and the duration in whole microseconds. Probes come every few seconds from
/// load balancers, so they log at debug.
///
/// A cause (an internal error, an unreachable database) is written here, once, with the request id
/// of the span; a 500 with a cause is an error, other 5xx warnings.
fn log_request(
    route: &str,
    status: u16,
    code: Option<&'static str>,
    cause: Option<&ErrorCause>,
    duration_us: u64,
) {
    // An absent code or cause (`None`) writes no field.
    let cause = cause.map(ErrorCause::chain);
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

/// An answer for an inner service's error or a panic. The request is gone by then (the inner
/// service took it, and actix forbids holding a clone while routing), so the answer travels as an
/// error that carries its finished response, which the dispatcher sends as it is.
fn answer_without_request(
    err: &actix_web::Error,
    id: &str,
    body_limit: Option<BodyLimit>,
) -> HttpResponse<BoxBody> {
    let mut response = err.error_response();
    if needs_json_error(&response) {
        response = json_error(&response, None, Some(err.to_string()), body_limit);
    }
    set_request_id(&mut response, id);
    response
}

fn set_request_id(response: &mut HttpResponse<BoxBody>, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id(&req);
    // The path only: query strings may carry tokens (`access_token` on the STS route).
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::ops::Metrics>>()
        .cloned();
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let body_limit = req.app_data::<BodyLimit>().copied();
    let started = Instant::now();
    let outcome = AssertUnwindSafe(next.call(req).instrument(span.clone()))
        .catch_unwind()
        .await;
    let answer = match outcome {
        Ok(Ok(res)) => {
            let mut res = res.map_into_boxed_body();
            if needs_json_error(res.response()) {
                let error = res.response().error().map(|e| e.to_string());
                let json = json_error(res.response(), Some(res.request()), error, body_limit);
                res = res.into_response(json);
            }
            set_request_id(res.response_mut(), &id);
            Ok(res)
        }
        Ok(Err(err)) => Err(answer_without_request(&err, &id, body_limit)),
        Err(_) => Err(answer_without_request(
            &ApiError::internal("handler panicked").into(),
            &id,
            body_limit,
        )),
    };
    let response = match &answer {
        Ok(res) => res.response(),
        Err(res) => res,
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let cause = response.extensions().get::<ErrorCause>().cloned();
    span.in_scope(|| log_request(&route, status, code, cause.as_ref(), elapsed.as_micros() as u64));
    if let Some(metrics) = metrics {
        let status = status.to_string();
        let labels = [route.as_str(), method.as_str(), status.as_str()];
        metrics.http_requests.with_label_values(&labels).inc();
        metrics
            .http_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }
    answer.map_err(|response| InternalError::from_response("answered", response).into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App, HttpResponse};
    use serde_json::Value;

    use super::request_context;
    use crate::error::ApiError;
    use crate::settings::LogFormat;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// The production (JSON) log: one line per request, with the error code and whole
    /// microseconds, the request's fields once (no `spans` list), no query string; probes quiet.
    #[actix_web::test]
    async fn one_readable_line_per_request() {
        let buffer = Buffer::default();
        let filter = tracing_subscriber::EnvFilter::new("info");
        let _guard = tracing::subscriber::set_default(crate::telemetry::subscriber(
            filter,
            LogFormat::Json,
            buffer.clone(),
        ));
        let app = test::init_service(
            App::new()
                .wrap(from_fn(request_context))
                .route("/healthz", web::get().to(HttpResponse::Ok))
                .route("/v1/ok", web::get().to(HttpResponse::Ok))
                .route(
                    "/v1/x",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(ApiError::bad_request(
                            "invalid_query",
                            "limit: expected a number",
                        ))
                    }),
                ),
        )
        .await;
        for uri in ["/healthz", "/v1/x?access_token=s3cret", "/v1/ok"] {
            test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        }
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{out}");
        // A success names neither a code nor a cause.
        assert_eq!(lines[1]["status"], 200, "{out}");
        assert!(
            lines[1].get("code").is_none() && lines[1].get("cause").is_none(),
            "{out}"
        );
        let line = &lines[0];
        assert_eq!(
            (line["status"].as_u64(), line["code"].as_str()),
            (Some(400), Some("invalid_query")),
            "{out}"
        );
        assert!(line["duration_us"].is_u64(), "{out}");
        assert_eq!(line["span"]["path"], "/v1/x", "{out}");
        assert!(line.get("spans").is_none() && !out.contains("s3cret"), "{out}");
    }

    /// A 500's cause chain is written once, on the request's line with its id, and never sent.
    #[actix_web::test]
    async fn an_internal_error_logs_its_cause_chain_once_with_the_request_id() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the ledger")]
        struct Outer(#[source] std::io::Error);

        let buffer = Buffer::default();
        let _guard = tracing::subscriber::set_default(crate::telemetry::subscriber(
            tracing_subscriber::EnvFilter::new("info"),
            LogFormat::Json,
            buffer.clone(),
        ));
        let app = test::init_service(App::new().wrap(from_fn(request_context)).route(
            "/v1/x",
            web::get().to(|| async {
                let cause = Outer(std::io::Error::other("disk on fire"));
                Err::<HttpResponse, _>(ApiError::internal(cause))
            }),
        ))
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri("/v1/x").to_request()).await;
        assert_eq!(res.status(), 500);
        let id = res
            .headers()
            .get(super::REQUEST_ID_HEADER)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(!body.contains("disk"), "{body}");
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.matches("disk on fire").count(), 1, "{out}");
        let line: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(line["level"], "ERROR", "{out}");
        assert_eq!(line["cause"], "reading the ledger: disk on fire", "{out}");
        assert_eq!(line["span"]["request_id"], id.as_str(), "{out}");
    }

    /// A panic and an inner service's error are answered in the standard JSON, with the request
    /// id, and logged on the request's line — though the request itself is gone by then.
    #[actix_web::test]
    async fn panics_and_inner_errors_get_json_and_a_request_id() {
        async fn refuse(
            _req: super::ServiceRequest,
            _next: super::Next<impl super::MessageBody + 'static>,
        ) -> Result<super::ServiceResponse<super::BoxBody>, actix_web::Error> {
            Err(actix_web::error::ErrorForbidden("not from here"))
        }
        let buffer = Buffer::default();
        let _guard = tracing::subscriber::set_default(crate::telemetry::subscriber(
            tracing_subscriber::EnvFilter::new("info"),
            LogFormat::Json,
            buffer.clone(),
        ));
        let app = test::init_service(
            App::new()
                .wrap(from_fn(request_context))
                .service(
                    web::scope("/inner")
                        .wrap(from_fn(refuse))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .route(
                    "/v1/panic",
                    web::get().to(|| async {
                        if true {
                            panic!("a bug");
                        }
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;
        for (uri, status, code) in [
            ("/v1/panic", 500, "internal_error"),
            ("/inner", 403, "bad_request"),
        ] {
            // What the dispatcher sends for an error the service returns: its response.
            let res = match test::try_call_service(&app, test::TestRequest::get().uri(uri).to_request()).await
            {
                Ok(res) => res.into_parts().1,
                Err(err) => err.error_response(),
            };
            assert_eq!(res.status(), status, "{uri}");
            assert!(res.headers().contains_key(super::REQUEST_ID_HEADER), "{uri}");
            let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["error"]["code"], code, "{uri}: {body}");
        }
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["fields"]["message"] == "answered" || l["message"] == "answered")
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["cause"], "handler panicked", "{out}");
        assert_eq!(lines[0]["level"], "ERROR", "{out}");
    }
}
