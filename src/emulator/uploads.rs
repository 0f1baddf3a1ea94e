//! Multipart uploads on disk: `data_dir/uploads/{UploadId}/` holds `upload.json` (what Initiate
//! said about the object) and, per part, `{NNNNN}.part` with `{NNNNN}.json` (its MD5, size and
//! CRC-64). Complete streams the parts in order through an object writer, so neither a part nor
//! the object is ever held in memory. Upload ids are 32 upper-case hex digits; anything else is
//! unknown, so no client string ever becomes a path.

use std::io;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::objects::{FinishedUpload, NewObject, ObjectStore};

/// What Initiate recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMeta {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: DateTime<Utc>,
    pub content_type: String,
    pub user_meta: Vec<(String, String)>,
    pub forbid_overwrite: bool,
}

impl UploadMeta {
    /// The object Complete will create.
    pub fn new_object(&self, forbid_overwrite: bool) -> NewObject {
        NewObject {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            content_type: self.content_type.clone(),
            user_meta: self.user_meta.clone(),
            forbid_overwrite: forbid_overwrite || self.forbid_overwrite,
        }
    }
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMeta {
    pub number: u32,
    /// Upper-case hex MD5, unquoted.
    pub etag: String,
    pub size: u64,
    pub crc64: u64,
    pub last_modified: DateTime<Utc>,
}

fn is_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

async fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> io::Result<Option<T>> {
    match tokio::fs::read(path).await {
        Ok(raw) => serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `"<upper-hex MD5 of the parts' binary MD5s>-<count>"` without the quotes: S3's rule, which OSS's
/// shape follows; clients treat the value as opaque.
pub fn multipart_etag(parts: &[PartMeta]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(hex::decode(&part.etag).unwrap_or_default());
    }
    format!("{}-{}", hex::encode_upper(md5.finalize()), parts.len())
}

impl ObjectStore {
    fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        is_upload_id(id).then(|| self.uploads_dir().join(id))
    }

    pub async fn initiate(&self, object: &NewObject) -> io::Result<UploadMeta> {
        let upload_id = uuid::Uuid::new_v4().simple().to_string().to_ascii_uppercase();
        let dir = self.uploads_dir().join(&upload_id);
        tokio::fs::create_dir_all(&dir).await?;
        let meta = UploadMeta {
            upload_id,
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            initiated: Utc::now(),
            content_type: object.content_type.clone(),
            user_meta: object.user_meta.clone(),
            forbid_overwrite: object.forbid_overwrite,
        };
        self.write_json(&dir.join("upload.json"), &meta).await?;
        Ok(meta)
    }

    /// Written beside and renamed into place, so readers never see half a document.
    async fn write_json<T: Serialize>(&self, path: &std::path::Path, value: &T) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        let tmp = self.temp_path();
        tokio::fs::write(&tmp, json).await?;
        tokio::fs::rename(&tmp, path).await
    }

    /// The upload `id` of `bucket`/`key`; `None` if unknown, aborted, completed or another key's.
    pub async fn upload(&self, id: &str, bucket: &str, key: &str) -> io::Result<Option<UploadMeta>> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(None);
        };
        let meta: Option<UploadMeta> = read_json(&dir.join("upload.json")).await?;
        Ok(meta.filter(|m| m.bucket == bucket && m.key == key))
    }

    /// Stores (or replaces) part `number` of a known upload.
    pub async fn put_part(
        &self,
        upload: &UploadMeta,
        number: u32,
        bytes: FinishedUpload,
    ) -> io::Result<PartMeta> {
        let dir = self.uploads_dir().join(&upload.upload_id);
        let part = PartMeta {
            number,
            etag: bytes.etag.clone(),
            size: bytes.size,
            crc64: bytes.crc64,
            last_modified: Utc::now(),
        };
        bytes.persist(&dir.join(format!("{number:05}.part"))).await?;
        self.write_json(&dir.join(format!("{number:05}.json")), &part)
            .await?;
        Ok(part)
    }

    /// The parts uploaded so far, by ascending number.
    pub async fn parts(&self, upload: &UploadMeta) -> io::Result<Vec<PartMeta>> {
        let dir = self.uploads_dir().join(&upload.upload_id);
        let mut parts = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let is_part = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()));
            if is_part {
                if let Some(part) = read_json::<PartMeta>(&entry.path()).await? {
                    parts.push(part);
                }
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Every live upload of `bucket`, sorted by key, then upload id.
    pub async fn uploads(&self, bucket: &str) -> io::Result<Vec<UploadMeta>> {
        let mut found = Vec::new();
        let mut entries = match tokio::fs::read_dir(self.uploads_dir()).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            if let Some(meta) = read_json::<UploadMeta>(&entry.path().join("upload.json")).await? {
                if meta.bucket == bucket {
                    found.push(meta);
                }
            }
        }
        found.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        Ok(found)
    }

    /// Removes an upload and its parts.
    pub async fn drop_upload(&self, upload: &UploadMeta) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.uploads_dir().join(&upload.upload_id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The object's bytes: `parts` concatenated in order into a new upload, hashed on the way.
    pub async fn assemble(&self, upload: &UploadMeta, parts: &[PartMeta]) -> io::Result<FinishedUpload> {
        let dir = self.uploads_dir().join(&upload.upload_id);
        let mut writer = self.writer().await?;
        let mut buf = vec![0u8; 256 * 1024];
        for part in parts {
            let copied = async {
                let mut file = tokio::fs::File::open(dir.join(format!("{:05}.part", part.number))).await?;
                loop {
                    let n = file.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<_, io::Error>(());
                    }
                    writer.write(&buf[..n]).await?;
                }
            }
            .await;
            if let Err(e) = copied {
                writer.abort().await;
                return Err(e);
            }
        }
        let mut finished = writer.finish().await?;
        finished.etag = multipart_etag(parts);
        // OSS keeps no Content-MD5 for a multipart object.
        finished.content_md5 = String::new();
        finished.object_type = "Multipart";
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn part_of(store: &ObjectStore, upload: &UploadMeta, n: u32, bytes: &[u8]) -> PartMeta {
        let mut w = store.writer().await.unwrap();
        w.write(bytes).await.unwrap();
        store
            .put_part(upload, n, w.finish().await.unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn parts_assemble_into_one_object_with_the_multipart_etag() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let new = NewObject {
            bucket: "demo-bucket".into(),
            key: "videos/a.mp4".into(),
            content_type: "video/mp4".into(),
            user_meta: vec![],
            forbid_overwrite: false,
        };
        let upload = store.initiate(&new).await.unwrap();
        assert!(is_upload_id(&upload.upload_id));
        assert_eq!(
            store
                .upload(&upload.upload_id, "demo-bucket", "videos/a.mp4")
                .await
                .unwrap(),
            Some(upload.clone())
        );
        assert_eq!(
            store
                .upload(&upload.upload_id, "demo-bucket", "other")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .upload("../../etc", "demo-bucket", "videos/a.mp4")
                .await
                .unwrap(),
            None
        );

        part_of(&store, &upload, 2, b"56789").await;
        part_of(&store, &upload, 1, b"xxxx").await;
        // The same number again replaces the part.
        part_of(&store, &upload, 1, b"1234").await;
        let parts = store.parts(&upload).await.unwrap();
        assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(parts[0].etag, "81DC9BDB52D04DC20036DBD8313ED055");

        let done = store.assemble(&upload, &parts).await.unwrap();
        // CRC-64 and size are those of "123456789"; the ETag is the multipart one.
        assert_eq!(done.crc64, 11_051_210_869_376_104_954);
        assert_eq!(done.size, 9);
        let mut md5 = Md5::new();
        md5.update(hex::decode("81DC9BDB52D04DC20036DBD8313ED055").unwrap());
        md5.update(hex::decode(&parts[1].etag).unwrap());
        assert_eq!(done.etag, format!("{}-2", hex::encode_upper(md5.finalize())));
        let meta = store.commit(done, upload.new_object(false)).await.unwrap();
        assert_eq!(meta.object_type, "Multipart");
        assert_eq!(store.uploads("demo-bucket").await.unwrap().len(), 1);
        store.drop_upload(&upload).await.unwrap();
        assert!(store.uploads("demo-bucket").await.unwrap().is_empty());
        assert_eq!(
            store
                .upload(&upload.upload_id, "demo-bucket", "videos/a.mp4")
                .await
                .unwrap(),
            None
        );
    }
}
