//! Recording a completed upload: one path for the callback, the app's confirmation and the
//! reconciler. Store it exactly once (or spool it while the database is down), delete it when it
//! breaks its profile and deletion is configured, and build the answer the app receives.

pub mod answer;
pub mod content_check;

use std::sync::Arc;

use crate::clients::OssClient;
use crate::profiles::Profiles;
use crate::settings::Settings;
use crate::spool::{Spool, SpoolEntry};
use crate::store::{
    CompletedUpload, DbHealth, Recorded, StoreError, UploadRecord, UploadSource, UploadStatus,
};
use crate::tasks::BackgroundTasks;

/// What recording did, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Recorded,
    Rejected,
    /// Already recorded with this very object: a repeat, or a race with another path.
    Repeated,
    /// Already recorded, but the bucket now holds another object under the key (an overwrite
    /// through STS credentials): the record describes the new one, the old one is its history.
    Replaced,
    /// The database is down: spooled durably, written when it is back.
    Spooled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recorded => "recorded",
            Outcome::Rejected => "rejected",
            Outcome::Repeated => "repeated",
            Outcome::Replaced => "replaced",
            Outcome::Spooled => "spooled",
        }
    }
}

#[derive(Debug)]
pub struct Completed {
    pub outcome: Outcome,
    pub record: UploadRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    #[error("the database is down and the spool refused the upload")]
    Unspoolable(#[source] std::io::Error),
    #[error("the store refused the upload")]
    Store(#[from] StoreError),
}

pub struct Completion {
    health: Arc<DbHealth>,
    spool: Arc<Spool>,
    profiles: Profiles,
    /// Reads uploaded objects' first bytes and deletes rejected ones.
    oss: Arc<OssClient>,
    /// Delete objects that break their profile from the bucket.
    delete_rejected: bool,
    tasks: BackgroundTasks,
}

/// How long the content check waits for OSS: OSS itself waits for the callback's answer.
const CONTENT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Completion {
    pub fn new(
        settings: &Settings,
        profiles: Profiles,
        health: Arc<DbHealth>,
        spool: Arc<Spool>,
        oss: Arc<OssClient>,
        tasks: BackgroundTasks,
    ) -> Completion {
        Completion {
            health,
            spool,
            profiles,
            oss,
            delete_rejected: settings.reconcile.delete_rejected,
            tasks,
        }
    }

    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// Records the upload exactly once, after the post-upload checks: PostObject policies enforce
    /// size and type, a presigned PUT or an STS upload does not, and nothing but the bytes tells
    /// what they are, so an object that breaks its profile is recorded `rejected` with the reason.
    pub async fn record(&self, mut upload: CompletedUpload) -> Result<Completed, CompletionError> {
        upload.rejected = self.violation(&upload).await;
        let store = self.health.store();
        let (outcome, record) = match self.health.write(store.record_completed(&upload)).await {
            Ok(Recorded::Created(record)) if record.status == UploadStatus::Rejected => {
                tracing::warn!(upload_id = %record.upload_id, reason = ?record.reason, "upload rejected");
                self.delete(&record, upload.source).await;
                (Outcome::Rejected, record)
            }
            Ok(Recorded::AlreadyCompleted(previous)) if is_another_object(&previous, &upload) => {
                match self
                    .health
                    .write(store.replace_object(&upload, &previous))
                    .await?
                {
                    Some(record) => {
                        tracing::warn!(
                            upload_id = %record.upload_id, size = ?record.size, status = record.status.as_str(),
                            "the upload's object was replaced; the record now describes the new one"
                        );
                        if record.status == UploadStatus::Rejected {
                            self.delete(&record, upload.source).await;
                        }
                        (Outcome::Replaced, record)
                    }
                    // Another replacement won the race: answer with the row as it is now.
                    None => (Outcome::Repeated, store.get_upload(&upload.upload_id).await?),
                }
            }
            Ok(Recorded::Created(record)) => {
                tracing::info!(upload_id = %record.upload_id, size = ?record.size, "upload recorded");
                (Outcome::Recorded, record)
            }
            Ok(Recorded::AlreadyCompleted(record)) => {
                tracing::info!(upload_id = %record.upload_id, "already recorded");
                (Outcome::Repeated, record)
            }
            Err(err) if err.is_unavailable() => {
                // Durable before anyone is answered: OSS never calls back twice.
                self.spool
                    .append(SpoolEntry::Completed(upload.clone()))
                    .await
                    .map_err(CompletionError::Unspoolable)?;
                tracing::warn!(upload_id = %upload.upload_id, error = %err, "database unavailable; upload spooled");
                (Outcome::Spooled, spooled_record(upload))
            }
            Err(err) => return Err(err.into()),
        };
        Ok(Completed { outcome, record })
    }

    async fn violation(&self, upload: &CompletedUpload) -> Option<String> {
        let profile = self.profiles.get(&upload.profile)?;
        let declared = upload.mime_type.as_deref();
        if let Some(reason) = profile.violation(upload.size, declared) {
            return Some(reason);
        }
        let declared = declared.filter(|_| profile.check_content)?;
        if content_check::confirmed_by_oss(declared, upload.image_format.as_deref()) {
            return None;
        }
        match self
            .oss
            .first_bytes(
                profile,
                &upload.key,
                content_check::SNIFF_BYTES,
                CONTENT_READ_TIMEOUT,
            )
            .await
        {
            Ok(Some(head)) => content_check::contradiction(declared, &head),
            // Gone already (deleted, or a late repeat): nothing left to serve, nothing to judge.
            Ok(None) => None,
            Err(e) => {
                // Recorded unchecked rather than lost: OSS calls back once.
                tracing::warn!(upload_id = %upload.upload_id, error = %e, "could not read the object to check its content");
                None
            }
        }
    }

    /// The JSON the app receives (OSS relays it as the callback result).
    pub fn answer(&self, record: &UploadRecord) -> String {
        answer::body(record, answer::object_url(&self.profiles, record))
    }

    /// Deletes a rejected object, when so configured. OSS waits for the callback's answer, so a
    /// callback's deletion runs after it; the other paths wait, so that a reconcile pass or a
    /// confirmation reports a settled bucket.
    async fn delete(&self, record: &UploadRecord, source: UploadSource) {
        let deletion = self.deletion(record);
        match source {
            UploadSource::Callback => self.tasks.spawn_job(deletion),
            UploadSource::Client | UploadSource::Reconciler => deletion.await,
        }
    }

    fn deletion(&self, record: &UploadRecord) -> impl std::future::Future<Output = ()> + Send + 'static {
        let target = self
            .delete_rejected
            .then(|| self.oss.clone())
            .zip(self.profiles.get(&record.profile).cloned());
        let (key, upload_id) = (record.key.clone(), record.upload_id.clone());
        async move {
            let Some((oss, profile)) = target else {
                return;
            };
            match oss.delete(&profile, &key).await {
                Ok(()) => tracing::info!(%upload_id, "rejected object deleted"),
                Err(e) => tracing::warn!(%upload_id, error = %e, "could not delete a rejected object"),
            }
        }
    }
}

/// Whether the completion reports another object than the one recorded (same content has the
/// same ETag; without ETags, the size tells).
fn is_another_object(recorded: &UploadRecord, upload: &CompletedUpload) -> bool {
    match (&recorded.etag, &upload.etag) {
        (Some(before), Some(now)) => !before.eq_ignore_ascii_case(now),
        _ => recorded.size != Some(upload.size),
    }
}

/// The record the spooled entry will become: the same answer the app would get later.
fn spooled_record(u: CompletedUpload) -> UploadRecord {
    UploadRecord {
        status: if u.rejected.is_some() {
            UploadStatus::Rejected
        } else {
            UploadStatus::Completed
        },
        source: Some(u.source),
        size: Some(u.size),
        completed_at: Some(u.completed_at),
        reason: u.rejected,
        upload_id: u.upload_id,
        user_id: u.user_id,
        username: None,
        profile: u.profile,
        bucket: u.bucket,
        key: u.key,
        etag: u.etag,
        mime_type: u.mime_type,
        image_width: u.image_width,
        image_height: u.image_height,
        image_format: u.image_format,
        vars: u.vars,
        client_ip: u.client_ip,
        oss_request_id: u.oss_request_id,
        issued_at: u.issued_at,
        expires_at: u.expires_at,
    }
}
