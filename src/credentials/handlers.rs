use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::custom_signer::SignRequest;
use super::issue::{Issuer, UploadCredential, UploadRequest};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::sts::{StsService, UploadSts};

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
    sts: web::Data<StsService>,
    body: web::Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let upload_id = new_upload_id();
    let credential = issuer.issue(&user.user_id, &body, &upload_id, Utc::now())?;
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
    tracing::info!(
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
