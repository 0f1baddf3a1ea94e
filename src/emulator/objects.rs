//! The emulator's object store: bytes and metadata on disk under `data_dir/buckets/{bucket}/`.
//!
//! Files are named by the SHA-256 of the object key, so no client-chosen key (`..`, `/`, NUL) ever
//! becomes a path. Each object is `{hash}.data` plus `{hash}.json`; both are written to a temporary
//! file first and renamed into place, so a reader never sees half an object.

use std::io;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use crc::{Crc, Digest as CrcDigest, CRC_64_XZ};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use super::image_info::{self, ImageInfo, SNIFF_BYTES};

/// OSS's CRC-64 (`x-oss-hash-crc64ecma`) is CRC-64/XZ.
static CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_XZ);

/// What the emulator keeps about an object, and what HEAD, GET and the callback report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub content_type: String,
    /// Upper-case hex MD5, unquoted (the ETag header quotes it).
    pub etag: String,
    /// Base64 MD5, the `Content-MD5` form.
    pub content_md5: String,
    pub crc64: u64,
    pub image: Option<ImageInfo>,
    pub last_modified: DateTime<Utc>,
    /// `x-oss-meta-*` headers or form fields, names lowercased.
    #[serde(default)]
    pub user_meta: Vec<(String, String)>,
    /// `Normal`, or `Multipart` for an object made by CompleteMultipartUpload.
    #[serde(default = "normal")]
    pub object_type: String,
}

fn normal() -> String {
    "Normal".to_owned()
}

/// OSS bucket names: 3 to 63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// OSS object keys: 1 to 1023 bytes of UTF-8, not starting with `/` or `\`.
pub fn is_valid_key(key: &str) -> bool {
    (1..=1023).contains(&key.len()) && !key.starts_with('/') && !key.starts_with('\\')
}

#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(super) root: PathBuf,
    commit_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl ObjectStore {
    /// Creates the directories; the store survives restarts because nothing else is kept.
    /// Uploads a previous run left half-written in `tmp/` are removed.
    pub fn open(data_dir: &Path) -> io::Result<ObjectStore> {
        let root = data_dir.to_path_buf();
        std::fs::create_dir_all(root.join("buckets"))?;
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        for entry in std::fs::read_dir(&tmp)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(ObjectStore {
            root,
            commit_lock: Default::default(),
        })
    }

    fn paths(&self, bucket: &str, key: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join("buckets").join(bucket);
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        (dir.join(format!("{name}.data")), dir.join(format!("{name}.json")))
    }

    pub(super) fn temp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// A writer that hashes and sniffs the bytes as they arrive.
    pub async fn writer(&self) -> io::Result<ObjectWriter> {
        let path = self.temp_path();
        let file = tokio::fs::File::create(&path).await?;
        Ok(ObjectWriter {
            file,
            path,
            md5: Md5::new(),
            crc: CRC64.digest(),
            head: Vec::new(),
            size: 0,
        })
    }

    /// Moves a finished upload into place and records its metadata. With `forbid_overwrite`, an
    /// existing object stays and the upload is discarded (`ErrorKind::AlreadyExists`).
    pub async fn commit(&self, upload: FinishedUpload, meta: NewObject) -> io::Result<ObjectMeta> {
        let (data_path, meta_path) = self.paths(&meta.bucket, &meta.key);
        // One commit at a time, so that the existence check and the rename cannot interleave.
        let _commit = self.commit_lock.lock().await;
        if meta.forbid_overwrite && tokio::fs::try_exists(&meta_path).await? {
            upload.discard().await;
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "object exists"));
        }
        if let Some(dir) = data_path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let stored = ObjectMeta {
            bucket: meta.bucket,
            key: meta.key,
            size: upload.size,
            content_type: meta.content_type,
            etag: upload.etag,
            content_md5: upload.content_md5,
            crc64: upload.crc64,
            image: upload.image,
            last_modified: Utc::now(),
            user_meta: meta.user_meta,
            object_type: upload.object_type.to_owned(),
        };
        let json = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
        let meta_tmp = self.temp_path();
        tokio::fs::write(&meta_tmp, json).await?;
        tokio::fs::rename(&upload.path, &data_path).await?;
        tokio::fs::rename(&meta_tmp, &meta_path).await?;
        Ok(stored)
    }

    /// Metadata of a stored object, `None` when absent.
    pub async fn head(&self, bucket: &str, key: &str) -> io::Result<Option<ObjectMeta>> {
        let (_, meta_path) = self.paths(bucket, key);
        match tokio::fs::read(&meta_path).await {
            Ok(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Metadata and an open file of a stored object.
    pub async fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> io::Result<Option<(ObjectMeta, tokio::fs::File)>> {
        let Some(meta) = self.head(bucket, key).await? else {
            return Ok(None);
        };
        let (data_path, _) = self.paths(bucket, key);
        match tokio::fs::File::open(&data_path).await {
            Ok(file) => Ok(Some((meta, file))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes an object; absent objects are fine, as in OSS.
    pub async fn delete(&self, bucket: &str, key: &str) -> io::Result<()> {
        let (data_path, meta_path) = self.paths(bucket, key);
        for path in [meta_path, data_path] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// What the request says about a new object (the bytes say the rest).
#[derive(Debug, Clone)]
pub struct NewObject {
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub user_meta: Vec<(String, String)>,
    /// `x-oss-forbid-overwrite: true`: an existing object is kept and the write refused.
    pub forbid_overwrite: bool,
}

/// Receives an upload's bytes into a temporary file.
pub struct ObjectWriter {
    file: tokio::fs::File,
    path: PathBuf,
    md5: Md5,
    crc: CrcDigest<'static, u64>,
    head: Vec<u8>,
    size: u64,
}

impl ObjectWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.md5.update(chunk);
        self.crc.update(chunk);
        if self.head.len() < SNIFF_BYTES {
            let take = chunk.len().min(SNIFF_BYTES - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn finish(mut self) -> io::Result<FinishedUpload> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let md5 = self.md5.finalize();
        Ok(FinishedUpload {
            path: self.path,
            size: self.size,
            etag: hex::encode_upper(md5),
            content_md5: STANDARD.encode(md5),
            crc64: self.crc.finalize(),
            image: image_info::sniff(&self.head),
            object_type: "Normal",
        })
    }

    /// Drops the partial upload.
    pub async fn abort(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// A complete upload, not yet visible as an object.
#[derive(Debug)]
pub struct FinishedUpload {
    path: PathBuf,
    pub size: u64,
    pub etag: String,
    pub content_md5: String,
    pub crc64: u64,
    pub image: Option<ImageInfo>,
    /// What `x-oss-object-type` will say.
    pub object_type: &'static str,
}

impl FinishedUpload {
    pub async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }

    /// Moves the bytes to `to` (a multipart part's place), keeping nothing in `tmp/`.
    pub async fn persist(self, to: &Path) -> io::Result<()> {
        tokio::fs::rename(&self.path, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_oss_crc() {
        // The check value OSS and Alibaba's Python client agree on.
        assert_eq!(CRC64.checksum(b"123456789"), 11_051_210_869_376_104_954);
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_bucket("demo-bucket"));
        assert!(!is_valid_bucket("Demo"));
        assert!(!is_valid_bucket("_emulator"));
        assert!(!is_valid_bucket("ab"));
        assert!(!is_valid_bucket("-ab"));
        assert!(is_valid_key("a/b.png"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("/a"));
    }

    #[tokio::test]
    async fn objects_round_trip_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let mut w = store.writer().await.unwrap();
        w.write(b"1234").await.unwrap();
        w.write(b"56789").await.unwrap();
        let up = w.finish().await.unwrap();
        let new = NewObject {
            bucket: "demo-bucket".into(),
            key: "../../etc/passwd".into(),
            content_type: "text/plain".into(),
            user_meta: vec![],
            forbid_overwrite: false,
        };
        let meta = store.commit(up, new).await.unwrap();
        assert_eq!(meta.size, 9);
        assert_eq!(meta.etag, "25F9E794323B453885F5181F1B624D0B");
        assert_eq!(meta.crc64, 11_051_210_869_376_104_954);
        assert_eq!(meta.image, None);

        let reopened = ObjectStore::open(dir.path()).unwrap();
        let (again, _file) = reopened
            .open_object("demo-bucket", "../../etc/passwd")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, meta);
        reopened.delete("demo-bucket", "../../etc/passwd").await.unwrap();
        assert!(reopened
            .head("demo-bucket", "../../etc/passwd")
            .await
            .unwrap()
            .is_none());
        reopened.delete("demo-bucket", "absent").await.unwrap();
    }
}
