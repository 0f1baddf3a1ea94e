//! The building blocks every capability registers its routes with: `Routes` and `Endpoint`, the
//! `Json` extractor, extractor configs and the fallback that answer in the standard error shape
//! (actix would otherwise answer bad JSON, bad queries and unknown routes in plain text). Below
//! every capability, so they use it without knowing the route table (`routes.rs`) that uses them.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder};

use crate::error::ApiError;

pub mod input_errors;
mod json;
mod state;

pub use json::Json;
pub(crate) use state::needs;
pub use state::Has;

/// Where the app's routes are registered. It records each `(method, path)` it adds, so the
/// contract test walks the routes the server really serves, not a list kept beside them.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    table: Vec<(Method, String)>,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Routes {
            cfg,
            table: Vec::new(),
        }
    }

    /// The `(method, path)` pairs registered so far.
    pub fn into_table(self) -> Vec<(Method, String)> {
        self.table
    }

    pub fn add(&mut self, endpoint: Endpoint) -> &mut Self {
        for method in endpoint.methods {
            self.table.push((method, endpoint.path.clone()));
        }
        self.cfg.service(endpoint.resource);
        self
    }
}

/// One path and its handlers. Its unmatched methods get actix's `405` with the `Allow` header,
/// which `middleware::json_errors` turns into our error shape.
pub struct Endpoint {
    path: String,
    resource: Resource,
    methods: Vec<Method>,
}

impl Endpoint {
    pub fn new(path: &str) -> Self {
        Endpoint {
            path: path.to_string(),
            resource: web::resource(path),
            methods: Vec::new(),
        }
    }

    pub fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self
            .resource
            .route(web::route().method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler)
    }

    /// `GET` and `HEAD` (actix sends the headers of the `GET` answer without its body).
    pub fn get_and_head<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler.clone()).on(Method::HEAD, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, handler)
    }

    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.resource = self.resource.app_data(data);
        self
    }
}

/// The body limit that applies to a request (the app's, or a route's own), so a `413` can say it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err: JsonPayloadError, _req: &HttpRequest| {
            let api = match &err {
                JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                    payload_too_large(limit)
                }
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "expected Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request("invalid_json", input_errors::json_message(e))
                }
                _ => ApiError::bad_request("invalid_json", "the request body could not be read"),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        let QueryPayloadError::Deserialize(e) = &err else {
            return ApiError::bad_request("invalid_query", "the query string is malformed").into();
        };
        ApiError::bad_request("invalid_query", input_errors::plain(&e.to_string())).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        let PathError::Deserialize(e) = &err else {
            return ApiError::bad_request("invalid_path", "the path is malformed").into();
        };
        ApiError::bad_request(
            "invalid_path",
            format!("invalid path parameter: {}", input_errors::plain(&e.to_string())),
        )
        .into()
    })
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "route_not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}
