//! Completions from concurrent requests written together: one statement and one commit (one WAL
//! flush) for every completion that arrived while the previous write was in flight. Each caller
//! still gets its own answer, and only after the commit that made its row durable.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::sql::uploads::record_one;
use super::uploads::{fetch_many, insert_many};
use crate::store::{CompletedUpload, Recorded, StoreError};

/// Completions per statement.
const MAX_BATCH: usize = 128;
/// Statements in flight at once: one collects the next batch while the other commits.
const WRITERS: usize = 2;

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

pub(super) struct GroupCommit {
    tx: mpsc::Sender<(CompletedUpload, Reply)>,
}

impl GroupCommit {
    /// Starts the writer on the current runtime; `None` outside one (the store then writes each
    /// completion on its own).
    pub fn start(pool: PgPool) -> Option<GroupCommit> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        runtime.spawn(dispatch(rx, pool));
        Some(GroupCommit { tx })
    }

    pub async fn record(&self, pool: &PgPool, upload: &CompletedUpload) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send((upload.clone(), reply)).await.is_err() {
            // The writer's runtime is gone (a test tearing down, say): write it here.
            return record_one(pool, upload).await;
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the completion writer stopped".into())))
    }
}

async fn dispatch(mut rx: mpsc::Receiver<(CompletedUpload, Reply)>, pool: PgPool) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    loop {
        let Ok(permit) = writers.clone().acquire_owned().await else {
            return;
        };
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write(&pool, jobs).await;
            drop(permit);
        });
    }
}

async fn write(pool: &PgPool, mut jobs: Vec<(CompletedUpload, Reply)>) {
    // Rows locked in one order by every statement: two batches cannot deadlock.
    jobs.sort_by(|a, b| a.0.upload_id.cmp(&b.0.upload_id));
    while !jobs.is_empty() {
        // Postgres refuses to touch a row twice in one statement: a repeat of an upload in the
        // same batch waits for the next round, where it finds the row settled.
        let mut repeats = Vec::new();
        let mut batch: Vec<(CompletedUpload, Reply)> = Vec::with_capacity(jobs.len());
        for job in jobs {
            match batch.last() {
                Some(last) if last.0.upload_id == job.0.upload_id => repeats.push(job),
                _ => batch.push(job),
            }
        }
        write_batch(pool, batch).await;
        jobs = repeats;
    }
}

async fn write_batch(pool: &PgPool, jobs: Vec<(CompletedUpload, Reply)>) {
    let uploads: Vec<&CompletedUpload> = jobs.iter().map(|(u, _)| u).collect();
    let mut created = match insert_many(pool, &uploads).await {
        Ok(created) => created,
        Err(err) if err.is_unavailable() => {
            for (_, reply) in jobs {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
        Err(err) => {
            // One unstorable row fails the whole statement: retry each on its own, so that only
            // that one fails.
            tracing::warn!(error = %err, rows = jobs.len(), "completion batch refused; writing one by one");
            for (upload, reply) in jobs {
                let _ = reply.send(record_one(pool, &upload).await);
            }
            return;
        }
    };
    // Rows settled before (repeats, races with a confirmation): read as they are now, in a
    // statement of their own so that a concurrent winner's commit is visible.
    let settled: Vec<&str> = uploads
        .iter()
        .map(|u| u.upload_id.as_str())
        .filter(|id| !created.contains_key(*id))
        .collect();
    let mut existing = match settled.is_empty() {
        true => Ok(HashMap::new()),
        false => fetch_many(pool, &settled).await,
    };
    for (upload, reply) in jobs {
        let answer = match created.remove(&upload.upload_id) {
            Some(record) => Ok(Recorded::Created(record)),
            None => match &mut existing {
                Ok(found) => found
                    .remove(&upload.upload_id)
                    .map(Recorded::AlreadyCompleted)
                    .ok_or(StoreError::NotFound),
                Err(err) => Err(err.clone()),
            },
        };
        let _ = reply.send(answer);
    }
}
