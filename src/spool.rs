//! The durable local spool: what must reach the database but could not yet.
//!
//! A verified callback that cannot be written (database unreachable) is appended here and
//! fsync'd before OSS gets its answer, then replayed in the background. Replay is idempotent
//! (recording a completion twice is a no-op), so a crash mid-replay only replays again.
//!
//! Two files: appends go to `spool.ndjson`; a replay first renames it to `replaying.ndjson`, so
//! appends never wait for the database.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{CompletedUpload, DynStore, PendingUpload, StoreError};

const ACTIVE: &str = "spool.ndjson";
const REPLAYING: &str = "replaying.ndjson";
const DEAD: &str = "dead-letter.ndjson";

/// One spooled write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // short-lived, serialised at once; boxing buys nothing
pub enum SpoolEntry {
    Completed(CompletedUpload),
    Issued(PendingUpload),
}

pub struct Spool {
    dir: PathBuf,
    /// Serialises appends against the rename that starts a replay.
    append_lock: Mutex<()>,
    /// Serialises replays (the background task and an explicit flush).
    replay_lock: tokio::sync::Mutex<()>,
    depth: AtomicU64,
}

fn count_lines(path: &Path) -> u64 {
    File::open(path)
        .map(|f| {
            BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| !l.trim().is_empty())
                .count() as u64
        })
        .unwrap_or(0)
}

impl Spool {
    pub fn open(dir: &Path) -> std::io::Result<Arc<Spool>> {
        fs::create_dir_all(dir)?;
        let depth = count_lines(&dir.join(ACTIVE)) + count_lines(&dir.join(REPLAYING));
        Ok(Arc::new(Spool {
            dir: dir.to_path_buf(),
            append_lock: Mutex::new(()),
            replay_lock: tokio::sync::Mutex::new(()),
            depth: AtomicU64::new(depth),
        }))
    }

    /// Entries not yet in the database.
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Appends one entry and fsyncs it; returns once it is durable.
    pub async fn append(self: &Arc<Self>, entry: SpoolEntry) -> std::io::Result<()> {
        self.append_all(vec![entry]).await
    }

    /// Appends entries with one fsync; returns once they are durable.
    pub async fn append_all(self: &Arc<Self>, entries: Vec<SpoolEntry>) -> std::io::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.append_blocking(&entries))
            .await
            .map_err(std::io::Error::other)?
    }

    fn append_blocking(&self, entries: &[SpoolEntry]) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut lines, entry).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        let _guard = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(ACTIVE))?;
        file.write_all(&lines)?;
        file.sync_data()?;
        self.depth.fetch_add(entries.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Moves the active file aside for replay, unless a previous replay is still unfinished.
    fn take_batch(&self) -> std::io::Result<Option<PathBuf>> {
        let replaying = self.dir.join(REPLAYING);
        if replaying.exists() {
            return Ok(Some(replaying));
        }
        let _guard = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        let active = self.dir.join(ACTIVE);
        match fs::metadata(&active) {
            Ok(meta) if meta.len() > 0 => {
                fs::rename(&active, &replaying)?;
                Ok(Some(replaying))
            }
            _ => Ok(None),
        }
    }

    /// Writes everything spooled into the store. Stops at the first sign the database is still
    /// away (the batch stays for the next attempt); returns how many entries were replayed.
    pub async fn replay(&self, store: &DynStore) -> Result<u64, StoreError> {
        let _running = self.replay_lock.lock().await;
        let mut replayed = 0;
        // A batch, then whatever arrived meanwhile.
        for _ in 0..2 {
            let Some(path) = self.take_batch().map_err(|e| StoreError::Other(e.to_string()))? else {
                break;
            };
            let text = fs::read_to_string(&path).map_err(|e| StoreError::Other(e.to_string()))?;
            let mut lines = 0;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                lines += 1;
                let written = match serde_json::from_str::<SpoolEntry>(line) {
                    Ok(SpoolEntry::Completed(upload)) => store.record_completed(&upload).await.map(|_| ()),
                    Ok(SpoolEntry::Issued(pending)) => store.insert_pending(&[pending]).await.map(|_| ()),
                    // A torn last line from a crash mid-append: keep it for a person to look at.
                    Err(err) => {
                        tracing::error!(error = %err, "unreadable spool line; kept in the dead-letter file");
                        self.dead_letter(line);
                        Ok(())
                    }
                };
                match written {
                    Ok(()) => {}
                    Err(err) if err.is_unavailable() => return Err(err),
                    Err(err) => {
                        tracing::error!(error = %err, "spooled write refused by the store; kept in the dead-letter file");
                        self.dead_letter(line);
                    }
                }
            }
            fs::remove_file(&path).map_err(|e| StoreError::Other(e.to_string()))?;
            self.depth.fetch_sub(lines.min(self.depth()), Ordering::Relaxed);
            replayed += lines;
        }
        if replayed > 0 {
            tracing::info!(replayed, "spool replayed into the database");
        }
        Ok(replayed)
    }

    fn dead_letter(&self, line: &str) {
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(DEAD))
            .and_then(|mut f| writeln!(f, "{line}").and_then(|_| f.sync_data()));
        if let Err(err) = written {
            tracing::error!(error = %err, "cannot write the dead-letter file");
        }
    }
}

/// Replays the spool every `interval` while it has entries.
pub fn spawn_replayer(spool: Arc<Spool>, store: DynStore, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if spool.depth() == 0 {
                continue;
            }
            if let Err(err) = spool.replay(&store).await {
                tracing::warn!(error = %err, depth = spool.depth(), "spool replay postponed");
            }
        }
    })
}
