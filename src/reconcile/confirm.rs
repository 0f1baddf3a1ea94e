//! `POST /v1/uploads/{upload_id}/complete`: the app says "I uploaded it" (its callback got 203,
//! or never came); the service checks the bucket itself and records the upload exactly as the
//! callback would: same record, same answer, idempotent against a racing callback.

use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::settle::{SettleError, Settled, Settler};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::Has;
use crate::store::{StoreError, UploadSource, UploadStatus};

pub async fn complete<S: Has<Settler> + 'static>(
    user: AuthUser,
    state: web::Data<S>,
    upload_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let settler: &Settler = state.get();
    let not_found = || ApiError::not_found("upload_not_found", "no such upload for this user");
    let record = match settler.store.get_upload(&upload_id).await {
        Ok(record) if record.user_id == user.user_id => record,
        Ok(_) | Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let record = match record.status {
        UploadStatus::Completed | UploadStatus::Rejected => record,
        UploadStatus::Pending | UploadStatus::Abandoned => {
            match settler.settle(&record, UploadSource::Client, Utc::now()).await {
                Ok(Settled::Recorded(record)) => *record,
                Ok(Settled::Missing) => {
                    return Err(ApiError::conflict(
                        "object_not_found",
                        "no object under the issued key yet; upload it first",
                    ))
                }
                Err(SettleError::Oss(e)) => {
                    tracing::warn!(error = %e, "confirmation could not reach OSS");
                    return Err(ApiError::new(
                        actix_web::http::StatusCode::BAD_GATEWAY,
                        "oss_unavailable",
                        "the bucket could not be checked; try again",
                    ));
                }
                Err(e) if e.is_unavailable() => return Err(ApiError::database_unavailable()),
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
    };
    let body = settler.completion.answer(&record);
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}
