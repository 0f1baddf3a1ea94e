//! Upload records: the ledger of issued credentials and the completed uploads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    Pending,
    Completed,
    Abandoned,
    Rejected,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "pending",
            UploadStatus::Completed => "completed",
            UploadStatus::Abandoned => "abandoned",
            UploadStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => UploadStatus::Pending,
            "completed" => UploadStatus::Completed,
            "abandoned" => UploadStatus::Abandoned,
            "rejected" => UploadStatus::Rejected,
            other => return Err(StoreError::other(format!("unknown upload status {other:?}"))),
        })
    }
}

/// Who told us the upload completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadSource {
    Callback,
    Client,
    Reconciler,
}

impl UploadSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadSource::Callback => "callback",
            UploadSource::Client => "client",
            UploadSource::Reconciler => "reconciler",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "callback" => UploadSource::Callback,
            "client" => UploadSource::Client,
            "reconciler" => UploadSource::Reconciler,
            other => return Err(StoreError::other(format!("unknown upload source {other:?}"))),
        })
    }
}

/// A completed upload, as a callback (or a confirmation) reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedUpload {
    pub upload_id: String,
    pub user_id: String,
    pub profile: String,
    pub bucket: String,
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
    pub mime_type: Option<String>,
    pub image_width: Option<i32>,
    pub image_height: Option<i32>,
    pub image_format: Option<String>,
    /// Custom `x:` variables, without the prefix.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub client_ip: Option<String>,
    pub oss_request_id: Option<String>,
    pub source: UploadSource,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// Set when the object breaks its profile: the row becomes `rejected` with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// An issued credential, as the ledger records it before any upload happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    pub upload_id: String,
    pub user_id: String,
    pub profile: String,
    pub bucket: String,
    pub key: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The size the request declared: what the upload counts against quotas until it settles.
    /// (Entries spooled before this field existed read as 0.)
    #[serde(default)]
    pub declared_size: i64,
}

/// A stored upload row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadRecord {
    pub upload_id: String,
    pub user_id: String,
    /// The built-in account's username (`None` for external identities), copied into the row
    /// when it was written.
    pub username: Option<String>,
    pub profile: String,
    pub bucket: String,
    pub key: String,
    pub status: UploadStatus,
    pub source: Option<UploadSource>,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub mime_type: Option<String>,
    pub image_width: Option<i32>,
    pub image_height: Option<i32>,
    pub image_format: Option<String>,
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub client_ip: Option<String>,
    pub oss_request_id: Option<String>,
    pub reason: Option<String>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub issued_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// What an upload's record said before its object was replaced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadVersion {
    pub version: i32,
    pub status: UploadStatus,
    pub source: Option<UploadSource>,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub mime_type: Option<String>,
    pub reason: Option<String>,
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub replaced_at: DateTime<Utc>,
}

/// What recording a completion did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// This call completed the upload.
    Created(UploadRecord),
    /// It was already completed (a repeated callback, or a race with a confirmation).
    AlreadyCompleted(UploadRecord),
}

impl Recorded {
    pub fn record(&self) -> &UploadRecord {
        match self {
            Recorded::Created(r) | Recorded::AlreadyCompleted(r) => r,
        }
    }
}

#[async_trait]
pub trait UploadStore {
    /// Records issued credentials as `pending`; rows that exist already (a callback won the
    /// race) are left alone. Returns how many were inserted.
    async fn insert_pending(&self, uploads: &[PendingUpload]) -> Result<u64, StoreError>;

    /// Settles the upload exactly once, as `completed` (or `rejected` when `rejected` is set):
    /// creates the row, or settles a pending (or abandoned) one; an already settled row is
    /// returned untouched.
    async fn record_completed(&self, upload: &CompletedUpload) -> Result<Recorded, StoreError>;

    async fn get_upload(&self, upload_id: &str) -> Result<UploadRecord, StoreError>;

    /// A settled upload's object was replaced (an overwrite): the record takes `u`'s facts and
    /// what it said before becomes its next version, in one transaction. `None` when the row no
    /// longer describes `previous`'s object (a concurrent replacement won).
    async fn replace_object(
        &self,
        u: &CompletedUpload,
        previous: &UploadRecord,
    ) -> Result<Option<UploadRecord>, StoreError>;

    /// An upload's earlier versions, oldest first.
    async fn upload_versions(&self, upload_id: &str) -> Result<Vec<UploadVersion>, StoreError>;

    /// Leases up to `limit` pending uploads whose credential expired before `expired_before`
    /// and that no other instance holds, for `lease_secs`; safe to call from several instances.
    async fn lease_expired_pending(
        &self,
        expired_before: DateTime<Utc>,
        limit: u32,
        lease_secs: i64,
        owner: &str,
    ) -> Result<Vec<UploadRecord>, StoreError>;

    /// Marks a pending upload `abandoned` (no object was ever stored). `false` if it was not pending.
    async fn mark_abandoned(&self, upload_id: &str, reason: &str) -> Result<bool, StoreError>;

    /// How many uploads are pending, and when the oldest of them was issued (metrics).
    async fn pending_summary(&self) -> Result<(i64, Option<DateTime<Utc>>), StoreError>;

    /// How many uploads are in the store (all statuses); for tests and benchmarks.
    async fn count_uploads(&self) -> Result<i64, StoreError>;
}
