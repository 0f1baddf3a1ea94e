use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::custom_signer::SignRequest;
use super::issue::{Issuer, UploadRequest};
use super::SignatureVersion;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::ops::Metrics;
use crate::rate_limit::RateLimiter;
use crate::reconcile::Ledger;

/// The per-user limit on issuance (`None`: off).
pub struct IssuanceLimiter(pub Option<RateLimiter>);

/// A new upload id: a UUIDv7 in hex, so ids sort by issue time.
fn new_upload_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub async fn create_upload(
    user: AuthUser,
    issuer: web::Data<Issuer>,
    metrics: web::Data<Metrics>,
    limiter: web::Data<IssuanceLimiter>,
    ledger: web::Data<Ledger>,
    body: web::Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(limiter) = &limiter.0 {
        if let Err(wait) = limiter.check(&user.user_id) {
            let secs = wait.as_secs() + 1;
            let mut err = ApiError::too_many_requests(
                "rate_limited",
                format!("too many upload credentials; retry in {secs} s"),
            );
            err.retry_after = Some(secs);
            return Err(err);
        }
    }
    let upload_id = new_upload_id();
    let mut credential = issuer.issue(&user.user_id, &body, &upload_id, Utc::now())?;
    if let Some(pending) = credential.pending.take() {
        ledger.record(pending);
    }
    let version = match credential.signature_version {
        SignatureVersion::V1 => "v1",
        SignatureVersion::V4 => "v4",
    };
    metrics
        .credentials_issued
        .with_label_values(&[credential.profile.as_str(), version])
        .inc();
    tracing::info!(
        upload_id = %credential.upload_id,
        profile = %credential.profile,
        version = ?credential.signature_version,
        "credential issued"
    );
    Ok(HttpResponse::Created().json(credential))
}

pub async fn sign(
    user: AuthUser,
    issuer: web::Data<Issuer>,
    body: web::Json<SignRequest>,
) -> Result<HttpResponse, ApiError> {
    match issuer.sign_for_sdk(&user.user_id, &body.content, Utc::now()) {
        Ok(signed) => Ok(HttpResponse::Ok().json(signed)),
        Err(err) => {
            tracing::warn!(user_id = %user.user_id, reason = %err, "custom-signer request refused");
            Err(err.into())
        }
    }
}
