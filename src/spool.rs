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
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::store::{CompletedUpload, DbHealth, DynStore, PendingUpload, StoreError};

const ACTIVE: &str = "spool.ndjson";
const REPLAYING: &str = "replaying.ndjson";
const DEAD: &str = "dead-letter.ndjson";
/// Spooled entries per database round trip during a replay.
const REPLAY_BATCH: usize = 256;

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
    append_lock: Arc<Mutex<()>>,
    /// Serialises replays (the background task and an explicit flush).
    replay_lock: tokio::sync::Mutex<()>,
    depth: Arc<AtomicU64>,
    /// To the writer thread, which gives every append that arrives together one fsync.
    appends: std::sync::mpsc::Sender<Append>,
}

/// Lines to append, and who waits for them to be durable.
struct Append {
    lines: Vec<u8>,
    entries: u64,
    durable: oneshot::Sender<std::io::Result<()>>,
}

/// Appends in one group per fsync.
const MAX_GROUP: usize = 1024;

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
        let depth = Arc::new(AtomicU64::new(depth));
        let append_lock = Arc::new(Mutex::new(()));
        let (appends, queued) = std::sync::mpsc::channel();
        let writer = GroupWriter {
            path: dir.join(ACTIVE),
            append_lock: append_lock.clone(),
            depth: depth.clone(),
        };
        // A thread of its own: fsync blocks, and it ends when the spool is dropped.
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer.run(queued))?;
        Ok(Arc::new(Spool {
            dir: dir.to_path_buf(),
            append_lock,
            replay_lock: tokio::sync::Mutex::new(()),
            depth,
            appends,
        }))
    }

    /// Entries not yet in the database.
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Appends one entry and fsyncs it; returns once it is durable.
    pub async fn append(&self, entry: SpoolEntry) -> std::io::Result<()> {
        self.append_all(vec![entry]).await
    }

    /// Appends entries; returns once they are durable. Appends from concurrent callers share
    /// one fsync.
    pub async fn append_all(&self, entries: Vec<SpoolEntry>) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for entry in &entries {
            serde_json::to_writer(&mut lines, entry).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        let (durable, done) = oneshot::channel();
        let append = Append {
            lines,
            entries: entries.len() as u64,
            durable,
        };
        self.appends
            .send(append)
            .map_err(|_| std::io::Error::other("the spool writer stopped"))?;
        done.await
            .unwrap_or_else(|_| Err(std::io::Error::other("the spool writer stopped")))
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
            let Some(path) = self.take_batch().map_err(StoreError::other)? else {
                break;
            };
            let text = fs::read_to_string(&path).map_err(StoreError::other)?;
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut issued = Vec::new();
            let mut completed = Vec::new();
            for line in &lines {
                match serde_json::from_str::<SpoolEntry>(line) {
                    Ok(SpoolEntry::Issued(pending)) => issued.push((*line, pending)),
                    Ok(SpoolEntry::Completed(upload)) => completed.push((*line, upload)),
                    // A torn last line from a crash mid-append: keep it for a person to look at.
                    Err(err) => {
                        tracing::error!(error = %err, "unreadable spool line; kept in the dead-letter file");
                        self.dead_letter(line);
                    }
                }
            }
            // Ledger rows first, in batches; a completion settles its pending row or creates it,
            // so the order between the two kinds does not matter.
            for chunk in issued.chunks(REPLAY_BATCH) {
                let rows: Vec<PendingUpload> = chunk.iter().map(|(_, p)| p.clone()).collect();
                match store.insert_pending(&rows).await {
                    Ok(_) => {}
                    Err(err) if err.is_unavailable() => return Err(err),
                    // One bad row refuses the batch: write each on its own so only it fails.
                    Err(_) => {
                        for (line, pending) in chunk {
                            let written = store.insert_pending(std::slice::from_ref(pending)).await;
                            self.settle_line(line, written.map(|_| ()))?;
                        }
                    }
                }
            }
            // Completions concurrently, so that Postgres' group commit batches them.
            for chunk in completed.chunks(REPLAY_BATCH) {
                let writes = chunk.iter().map(|(_, upload)| store.record_completed(upload));
                let results = futures_util::future::join_all(writes).await;
                for ((line, _), written) in chunk.iter().zip(results) {
                    self.settle_line(line, written.map(|_| ()))?;
                }
            }
            fs::remove_file(&path).map_err(StoreError::other)?;
            let lines = lines.len() as u64;
            self.depth.fetch_sub(lines.min(self.depth()), Ordering::Relaxed);
            replayed += lines;
        }
        if replayed > 0 {
            tracing::info!(replayed, "spool replayed into the database");
        }
        Ok(replayed)
    }

    /// An outage stops the replay (the file stays); any other refusal dead-letters the line.
    fn settle_line(&self, line: &str, written: Result<(), StoreError>) -> Result<(), StoreError> {
        match written {
            Ok(()) => Ok(()),
            Err(err) if err.is_unavailable() => Err(err),
            Err(err) => {
                tracing::error!(error = %err, "spooled write refused by the store; kept in the dead-letter file");
                self.dead_letter(line);
                Ok(())
            }
        }
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

/// Replays the spool every `interval` while it has entries and the database is not known to be
/// down, and at once when the database comes back; stops when cancelled.
pub async fn run_replayer(
    spool: Arc<Spool>,
    health: Arc<DbHealth>,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
            _ = health.recovered() => {}
        }
        if spool.depth() == 0 || health.is_down() {
            continue;
        }
        let replayed = spool.replay(health.store()).await;
        health.observe(&replayed);
        if let Err(err) = replayed {
            tracing::warn!(error = %err, depth = spool.depth(), "spool replay postponed");
        }
    }
}

struct GroupWriter {
    path: PathBuf,
    append_lock: Arc<Mutex<()>>,
    depth: Arc<AtomicU64>,
}

impl GroupWriter {
    fn run(self, queued: std::sync::mpsc::Receiver<Append>) {
        while let Ok(first) = queued.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match queued.try_recv() {
                    Ok(more) => group.push(more),
                    Err(_) => break,
                }
            }
            let written = self.write(&group);
            for append in group {
                let result = match &written {
                    Ok(()) => Ok(()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                let _ = append.durable.send(result);
            }
        }
    }

    fn write(&self, group: &[Append]) -> std::io::Result<()> {
        let _guard = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        for append in group {
            file.write_all(&append.lines)?;
        }
        file.sync_data()?;
        let entries: u64 = group.iter().map(|a| a.entries).sum();
        self.depth.fetch_add(entries, Ordering::Relaxed);
        Ok(())
    }
}
