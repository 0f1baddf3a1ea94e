//! `POST /v1/oss/callback`: verify, bind, record exactly once (or spool), answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::public_keys::PublicKeys;
use super::{answer, binding, CallbackError};
use crate::error::ApiError;
use crate::ops::Metrics;
use crate::reconcile::OssClient;
use crate::settings::ProfileSettings;
use crate::signing::{self, upload_callback, CallbackBodyType, TokenKeys};
use crate::spool::{Spool, SpoolEntry};
use crate::store::{DynStore, Recorded, UploadRecord, UploadStatus};

pub struct CallbackService {
    pub keys: PublicKeys,
    pub token_keys: TokenKeys,
    pub profiles: BTreeMap<String, ProfileSettings>,
    pub store: DynStore,
    pub spool: Arc<Spool>,
    pub metrics: web::Data<Metrics>,
    /// Set when rejected objects are to be deleted from the bucket.
    pub delete_rejected: Option<Arc<OssClient>>,
}

fn header_str<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, CallbackError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(CallbackError::MissingHeader(name))
}

pub async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    svc: web::Data<CallbackService>,
) -> Result<HttpResponse, ApiError> {
    match handle(&req, &body, &svc).await {
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
    let key = svc.keys.key_for(key_url).await?;
    let query = req.query_string();
    let query = (!query.is_empty()).then_some(query);
    signing::callback::verify(&key, authorization, req.uri().path(), query, body)
        .map_err(|_| CallbackError::BadSignature)?;

    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let body_type = CallbackBodyType::parse(content_type).ok_or(CallbackError::UnsupportedBodyType)?;
    let fields = upload_callback::parse_body(body_type, body)
        .map_err(|e| CallbackError::MalformedBody(e.to_string()))?;
    let mut upload = binding::bind(&fields, &svc.token_keys, &svc.profiles, Utc::now())?;
    // PostObject policies enforce size and type; a presigned PUT or an STS upload does not.
    let profile = svc.profiles.get(&upload.profile);
    upload.rejected = profile.and_then(|p| p.violation(upload.size, upload.mime_type.as_deref()));

    let (outcome, record) = match svc.store.record_completed(&upload).await {
        Ok(Recorded::Created(record)) if record.status == UploadStatus::Rejected => {
            tracing::warn!(upload_id = %record.upload_id, reason = ?record.reason, "upload rejected");
            if let (Some(oss), Some(profile)) = (&svc.delete_rejected, profile) {
                let (oss, profile, key) = (oss.clone(), profile.clone(), record.key.clone());
                tokio::spawn(async move {
                    if let Err(e) = oss.delete(&profile, &key).await {
                        tracing::warn!(error = %e, "could not delete a rejected object");
                    }
                });
            }
            ("rejected", record)
        }
        Ok(Recorded::Created(record)) => {
            tracing::info!(upload_id = %record.upload_id, size = ?record.size, "upload recorded");
            ("recorded", record)
        }
        Ok(Recorded::AlreadyCompleted(record)) => {
            tracing::info!(upload_id = %record.upload_id, "repeated callback; already recorded");
            ("repeated", record)
        }
        Err(err) if err.is_unavailable() => {
            // Durable before we answer: OSS never calls back twice.
            svc.spool
                .append(SpoolEntry::Completed(upload.clone()))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, upload_id = %upload.upload_id, "cannot spool a verified callback");
                    CallbackError::Unrecordable
                })?;
            tracing::warn!(upload_id = %upload.upload_id, error = %err, "database unavailable; callback spooled");
            ("spooled", spooled_record(&upload))
        }
        Err(err) => {
            tracing::error!(error = %err, upload_id = %upload.upload_id, "cannot record callback");
            return Err(CallbackError::Unrecordable);
        }
    };
    Ok((
        outcome,
        answer::body(&record, answer::object_url(&svc.profiles, &record)),
    ))
}

/// The record the spooled entry will become: the same answer the app would get later.
fn spooled_record(u: &crate::store::CompletedUpload) -> UploadRecord {
    UploadRecord {
        upload_id: u.upload_id.clone(),
        user_id: u.user_id.clone(),
        username: None,
        profile: u.profile.clone(),
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        status: if u.rejected.is_some() {
            UploadStatus::Rejected
        } else {
            UploadStatus::Completed
        },
        source: Some(u.source),
        size: Some(u.size),
        etag: u.etag.clone(),
        mime_type: u.mime_type.clone(),
        image_width: u.image_width,
        image_height: u.image_height,
        image_format: u.image_format.clone(),
        vars: u.vars.clone(),
        client_ip: u.client_ip.clone(),
        oss_request_id: u.oss_request_id.clone(),
        reason: u.rejected.clone(),
        issued_at: u.issued_at,
        expires_at: u.expires_at,
        completed_at: Some(u.completed_at),
    }
}
