use std::sync::Arc;

use actix_web::{mime, web, HttpResponse};
use chrono::Utc;

use super::custom_signer::SignRequest;
use super::issue::{Issuer, JsonObject, UploadCredential, UploadRequest};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::Has;
use crate::http::Json;
use crate::limits::{Gcra, Limits};
use crate::ops::Metrics;
use crate::reconcile::Ledger;
use crate::settings::{IssuanceSettings, Settings};
use crate::store::DynStore;
use crate::sts::{StsService, UploadSts};

/// The per-user limit on issuance (a token bucket; shared between instances on Postgres).
pub struct IssuanceLimiter {
    limits: Arc<Limits>,
    rule: Option<Gcra>,
}

impl IssuanceLimiter {
    pub fn new(settings: &IssuanceSettings, limits: Arc<Limits>) -> IssuanceLimiter {
        IssuanceLimiter {
            limits,
            rule: Gcra::with_burst(
                settings.rate_per_minute,
                std::time::Duration::from_secs(60),
                settings.burst,
            ),
        }
    }

    async fn check(&self, user_id: &str) -> Result<(), ApiError> {
        let Some(rule) = &self.rule else {
            return Ok(());
        };
        self.limits.take("issuance", user_id, rule).await.map_err(|wait| {
            let secs = wait.as_secs() + 1;
            let mut err = ApiError::too_many_requests(
                "rate_limited",
                format!("too many upload credentials; retry in {secs} s"),
            );
            err.retry_after = Some(secs);
            err
        })
    }
}

/// A new upload id: a UUIDv7 in hex, so ids sort by issue time.
fn new_upload_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub async fn create_upload<S: super::Needs>(
    user: AuthUser,
    state: web::Data<S>,
    body: Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let issuer: &Issuer = state.get();
    let settings: &Settings = state.get();
    let store: &DynStore = state.get();
    let metrics: &Metrics = state.get();
    let limiter: &IssuanceLimiter = state.get();
    let ledger: &Ledger = state.get();
    let sts: &StsService = state.get();
    limiter.check(&user.user_id).await?;
    let upload_id = new_upload_id();
    let now = Utc::now();
    let mut credential = issuer.issue(&user.user_id, &body, &upload_id, now)?;
    let quota = settings.profiles.get(&credential.profile).map(|p| &p.quota);
    if let Some(quota) = quota.filter(|q| q.is_set()) {
        super::quota::check(store, &user.user_id, &credential.profile, quota, body.size, now).await?;
    }
    if let Some(pending) = credential.pending.take() {
        // Durable before the app hears of it: an upload nobody knows about is never reconciled.
        ledger.record(pending).await.map_err(|err| {
            tracing::error!(error = %err, "credential withheld: its ledger entry is not durable");
            ApiError::service_unavailable(
                "ledger_unavailable",
                "the upload could not be recorded durably; retry shortly",
            )
        })?;
    }
    metrics
        .credentials_issued
        .with_label_values(&[credential.profile.as_str(), credential.signature_version.as_str()])
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
    issued_json(&credential, sts.as_ref())
}

/// The answer: the credential's members, then STS credentials for its one key when the profile
/// asks for them. Written in one pass into a buffer that holds it, not grown from empty by
/// doubling as `HttpResponse::json` does.
fn issued_json(credential: &UploadCredential, sts: Option<&UploadSts>) -> Result<HttpResponse, ApiError> {
    let mut json = Vec::with_capacity(ANSWER_CAPACITY);
    let mut answer = JsonObject::new(&mut json);
    credential
        .write_json_members(&mut answer)
        .map_err(ApiError::internal)?;
    if let Some(sts) = sts {
        answer.serde("sts", sts).map_err(ApiError::internal)?;
    }
    answer.end();
    Ok(HttpResponse::Created()
        .content_type(mime::APPLICATION_JSON)
        .body(json))
}

/// Room for a credential's answer without reallocation (a V4 one with variables is ~9 KB).
const ANSWER_CAPACITY: usize = 12 * 1024;

pub async fn sign<S: Has<Issuer> + 'static>(
    user: AuthUser,
    state: web::Data<S>,
    body: Json<SignRequest>,
) -> Result<HttpResponse, ApiError> {
    let issuer: &Issuer = state.get();
    match issuer.sign_for_sdk(&user.user_id, &body.content, body.callback.as_deref(), Utc::now()) {
        Ok(signed) => Ok(HttpResponse::Ok().json(signed)),
        Err(err) => {
            tracing::warn!(user_id = %user.user_id, reason = %err, "custom-signer request refused");
            Err(err.into())
        }
    }
}
