//! The HTTP edge, one job per middleware. Outermost first, as `startup` wraps them:
//!
//! - `request_id`: takes a sane `x-request-id` or mints one, and echoes it on every answer;
//! - `access_log`: the request's span and its one `answered` event (code, cause, duration);
//! - `metrics`: the request counter and duration histogram per route, method and status;
//! - `json_errors`: actix's own plain-text errors become `{"error": {"code", "message"}}`
//!   (`ErrorHandlers` for answers, a `from_fn` for errors that come back without their request);
//! - `catch_panic`: a handler's panic becomes the standard 500.
//!
//! Inside the edge, `startup` also wraps CORS and `unusable_input` (a NUL or invalid UTF-8 in the
//! path or query is refused before any handler runs).
//!
//! An answer built after the request is gone (a panic, an inner service's error) travels as an
//! error carrying its finished response; each middleware that reads or changes such an answer
//! takes it out of the error and puts it back ([`finished`], [`carried`]).

use actix_web::body::BoxBody;
use actix_web::error::InternalError;
use actix_web::HttpResponse;

pub mod access_log;
pub mod catch_panic;
pub mod json_errors;
pub mod metrics;
pub mod request_id;
pub mod unusable_input;

pub use request_id::REQUEST_ID_HEADER;

/// Wraps an `App` in the edge, innermost first, counting into `$metrics` (an `Arc<Metrics>`):
/// `startup` and the tests use this one stack.
macro_rules! edge {
    ($app:expr, $metrics:expr) => {{
        use actix_web::middleware::from_fn;
        use $crate::middleware::{access_log, catch_panic, json_errors, request_id};
        let metrics: std::sync::Arc<$crate::ops::Metrics> = $metrics;
        $app.wrap(from_fn(catch_panic::catch_panic))
            .wrap(from_fn(json_errors::carried_errors))
            .wrap(json_errors::handlers())
            .wrap(from_fn(move |req, next| {
                $crate::middleware::metrics::count(metrics.clone(), req, next)
            }))
            .wrap(from_fn(access_log::log))
            .wrap(from_fn(request_id::assign))
    }};
}
pub(crate) use edge;

/// The answer an error stands for, taken out of it (an `InternalError` hands its response out once).
fn finished(err: actix_web::Error) -> HttpResponse<BoxBody> {
    err.error_response()
}

/// An answer travelling as an error, sent by the dispatcher as it is.
fn carried(response: HttpResponse<BoxBody>) -> actix_web::Error {
    InternalError::from_response("answered", response).into()
}

#[cfg(test)]
pub(crate) mod testing {
    //! A log buffer for the middleware tests.

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

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

    /// The JSON log of `buffer` at `info`, for the calling thread, while the guard lives.
    pub fn capture(buffer: &Buffer) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(crate::telemetry::subscriber(
            tracing_subscriber::EnvFilter::new("info"),
            crate::settings::LogFormat::Json,
            buffer.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::{BoxBody, MessageBody};
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::middleware::{from_fn, Next};
    use actix_web::{test, web, App, HttpResponse};
    use serde_json::Value;

    use std::sync::Arc;

    use super::testing::{capture, Buffer};
    use crate::error::ApiError;
    use crate::ops::Metrics;

    /// The production (JSON) log: one line per request, with the error code and whole
    /// microseconds, the request's fields once (no `spans` list), no query string; probes quiet.
    #[actix_web::test]
    async fn one_readable_line_per_request() {
        let buffer = Buffer::default();
        let _guard = capture(&buffer);
        let app = test::init_service(
            edge!(App::new(), Arc::new(Metrics::new()))
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
        let out = buffer.text();
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
        let _guard = capture(&buffer);
        let app = test::init_service(edge!(App::new(), Arc::new(Metrics::new())).route(
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
        let out = buffer.text();
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
            _req: ServiceRequest,
            _next: Next<impl MessageBody + 'static>,
        ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
            Err(actix_web::error::ErrorForbidden("not from here"))
        }
        let buffer = Buffer::default();
        let _guard = capture(&buffer);
        let app = test::init_service(
            edge!(App::new(), Arc::new(Metrics::new()))
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
                Ok(res) => res.into_parts().1.map_into_boxed_body(),
                Err(err) => err.error_response(),
            };
            assert_eq!(res.status(), status, "{uri}");
            assert!(res.headers().contains_key(super::REQUEST_ID_HEADER), "{uri}");
            let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["error"]["code"], code, "{uri}: {body}");
        }
        let out = buffer.text();
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
