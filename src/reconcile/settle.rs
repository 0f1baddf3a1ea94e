//! Settling a pending upload from what the bucket says: the object is there and fits its profile
//! (completed), is there but breaks it (rejected, optionally deleted), or is not there.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clients::{OssClient, OssError};
use crate::completion::{Completion, CompletionError};
use crate::store::{CompletedUpload, DynStore, StoreError, UploadRecord, UploadSource};

pub struct Settler {
    pub store: DynStore,
    pub oss: Arc<OssClient>,
    pub completion: Arc<Completion>,
}

#[derive(Debug)]
pub enum Settled {
    /// Completed or rejected now, or already before.
    Recorded(Box<UploadRecord>),
    /// No object under the issued key.
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the upload's profile {0:?} is no longer configured")]
    UnknownProfile(String),
    #[error(transparent)]
    Oss(#[from] OssError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Completion(#[from] CompletionError),
}

impl SettleError {
    /// The database is away (the caller answers 503 and tries again later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SettleError::Store(e) | SettleError::Completion(CompletionError::Store(e)) if e.is_unavailable())
    }
}

impl Settler {
    pub fn new(store: DynStore, oss: Arc<OssClient>, completion: Arc<Completion>) -> Settler {
        Settler {
            store,
            oss,
            completion,
        }
    }

    pub async fn settle(
        &self,
        record: &UploadRecord,
        source: UploadSource,
        now: DateTime<Utc>,
    ) -> Result<Settled, SettleError> {
        let profile = self
            .completion
            .profiles()
            .get(&record.profile)
            .ok_or_else(|| SettleError::UnknownProfile(record.profile.clone()))?;
        let Some(object) = self.oss.head(profile, &record.key).await? else {
            return Ok(Settled::Missing);
        };
        let upload = CompletedUpload {
            upload_id: record.upload_id.clone(),
            user_id: record.user_id.clone(),
            profile: record.profile.clone(),
            bucket: record.bucket.clone(),
            key: record.key.clone(),
            size: object.size,
            etag: object.etag,
            mime_type: object.content_type,
            image_width: None,
            image_height: None,
            image_format: None,
            vars: serde_json::Map::new(),
            client_ip: None,
            oss_request_id: None,
            source,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            completed_at: now,
            rejected: None,
        };
        let completed = self.completion.record(upload).await?;
        Ok(Settled::Recorded(Box::new(completed.record)))
    }
}
