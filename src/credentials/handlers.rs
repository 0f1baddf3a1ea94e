use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::custom_signer::SignRequest;
use super::issue::{Issuer, UploadRequest};
use crate::auth::AuthUser;
use crate::error::ApiError;

/// A new upload id: a UUIDv7 in hex, so ids sort by issue time.
fn new_upload_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub async fn create_upload(
    user: AuthUser,
    issuer: web::Data<Issuer>,
    body: web::Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let upload_id = new_upload_id();
    let credential = issuer.issue(&user.user_id, &body, &upload_id, Utc::now())?;
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
