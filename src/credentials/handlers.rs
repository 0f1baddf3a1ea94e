use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::custom_signer::SignRequest;
use super::issue::{Issuer, UploadCredential, UploadRequest};
use super::SignatureVersion;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::ops::Metrics;
use crate::rate_limit::RateLimiter;
use crate::reconcile::Ledger;
use crate::routes::Json;
use crate::sts::{StsService, UploadSts};

/// The per-user limit on issuance (`None`: off).
pub struct IssuanceLimiter(pub Option<RateLimiter>);

/// A new upload id: a UUIDv7 in hex, so ids sort by issue time.
fn new_upload_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The credential, plus STS credentials for its one key when the profile asks for them.
#[derive(Serialize)]
struct Issued {
    #[serde(flatten)]
    credential: UploadCredential,
    #[serde(skip_serializing_if = "Option::is_none")]
    sts: Option<UploadSts>,
}

pub async fn create_upload(
    user: AuthUser,
    issuer: web::Data<Issuer>,
    metrics: web::Data<Metrics>,
    limiter: web::Data<IssuanceLimiter>,
    ledger: web::Data<Ledger>,
    sts: web::Data<StsService>,
    body: Json<UploadRequest>,
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
    let sts = if sts.covers_uploads_of(&credential.profile) {
        let part = sts.for_upload(
            &user.user_id,
            &credential.profile,
            &credential.bucket,
            &credential.key,
        );
        Some(part.await?)
    } else {
        None
    };
    tracing::debug!(
        upload_id = %credential.upload_id,
        profile = %credential.profile,
        version = ?credential.signature_version,
        "credential issued"
    );
    Ok(HttpResponse::Created().json(Issued { credential, sts }))
}

pub async fn sign(
    user: AuthUser,
    issuer: web::Data<Issuer>,
    body: Json<SignRequest>,
) -> Result<HttpResponse, ApiError> {
    match issuer.sign_for_sdk(&user.user_id, &body.content, Utc::now()) {
        Ok(signed) => Ok(HttpResponse::Ok().json(signed)),
        Err(err) => {
            tracing::warn!(user_id = %user.user_id, reason = %err, "custom-signer request refused");
            Err(err.into())
        }
    }
}
