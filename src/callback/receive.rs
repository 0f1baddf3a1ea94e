//! `POST /v1/oss/callback`: verify, bind, record exactly once (or spool), answer.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::public_keys::PublicKeys;
use super::{binding, CallbackError};
use crate::completion::Completion;
use crate::error::ApiError;
use crate::http::Has;
use crate::ops::Metrics;
use crate::signing::{upload_callback, CallbackBodyType, TokenKeys};

pub struct CallbackService {
    pub keys: PublicKeys,
    pub token_keys: TokenKeys,
    pub completion: Arc<Completion>,
    pub metrics: web::Data<Metrics>,
}

fn header_str<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, CallbackError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(CallbackError::MissingHeader(name))
}

pub async fn receive<S: Has<CallbackService> + 'static>(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<S>,
) -> Result<HttpResponse, ApiError> {
    let svc: &CallbackService = state.get();
    match handle(&req, &body, svc).await {
        Ok((outcome, answer)) => {
            svc.metrics.callbacks.with_label_values(&[outcome]).inc();
            Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .body(answer))
        }
        Err(err) => {
            svc.metrics.callbacks.with_label_values(&[err.code()]).inc();
            tracing::warn!(reason = err.code(), detail = %err, "callback refused");
            Err(err.into())
        }
    }
}

/// Returns the outcome (for metrics) and the answer body.
async fn handle(
    req: &HttpRequest,
    body: &[u8],
    svc: &CallbackService,
) -> Result<(&'static str, String), CallbackError> {
    let authorization = header_str(req, "authorization")?;
    let key_url = header_str(req, "x-oss-pub-key-url")?;
    let query = req.query_string();
    let query = (!query.is_empty()).then_some(query);
    svc.keys
        .verify(key_url, authorization, req.uri().path(), query, body)
        .await?;

    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let body_type = CallbackBodyType::parse(content_type).ok_or(CallbackError::UnsupportedBodyType)?;
    let fields = upload_callback::parse_body(body_type, body)
        .map_err(|e| CallbackError::MalformedBody(e.to_string()))?;
    let upload = binding::bind(&fields, &svc.token_keys, svc.completion.profiles(), Utc::now())?;

    let completed = svc.completion.record(upload).await.map_err(|e| {
        tracing::error!(error = %e, "cannot record a verified callback");
        CallbackError::Unrecordable
    })?;
    Ok((
        completed.outcome.as_str(),
        svc.completion.answer(&completed.record),
    ))
}
