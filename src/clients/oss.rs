//! The few OSS calls the service makes itself: HeadObject to confirm an upload, a ranged
//! GetObject to check its first bytes, DeleteObject to remove one that breaks its profile.
//! Signed with V4 headers (`signing::v4`).

use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use crate::profiles::Profile;
use crate::settings::{Settings, SettingsError};
use crate::signing::{self, HeaderSignV4};

/// What HeadObject says about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: i64,
    pub content_type: Option<String>,
    /// Upper-hex MD5, unquoted.
    pub etag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OssError {
    #[error("OSS unreachable: {0}")]
    Unreachable(String),
    #[error("OSS answered {status}: {code}")]
    Refused { status: u16, code: String },
    #[error("cannot sign the request: {0}")]
    Signing(#[source] crate::signing::SigningError),
}

pub struct OssClient {
    http: reqwest::Client,
    access_key_id: String,
    secret: SecretString,
}

impl OssClient {
    pub fn from_settings(settings: &Settings) -> Result<OssClient, SettingsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SettingsError::Invalid {
                key: "oss".into(),
                reason: e.to_string(),
            })?;
        Ok(OssClient {
            http,
            access_key_id: settings.oss.access_key_id.clone(),
            secret: settings.oss_secret()?.value,
        })
    }

    fn signed(
        &self,
        method: reqwest::Method,
        profile: &Profile,
        key: &str,
    ) -> Result<reqwest::RequestBuilder, OssError> {
        let url = profile.object_url(key);
        let headers = signing::v4::sign_headers(&HeaderSignV4 {
            access_key_id: &self.access_key_id,
            secret: self.secret.expose_secret(),
            region: &profile.region,
            method: method.as_str(),
            bucket: Some(&profile.bucket),
            key,
            query: &[],
            headers: &[],
            additional_headers: &[],
            security_token: None,
            at: Utc::now(),
        })
        .map_err(OssError::Signing)?;
        let mut request = self.http.request(method, url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        Ok(request)
    }

    /// `None` when the object does not exist.
    pub async fn head(&self, profile: &Profile, key: &str) -> Result<Option<ObjectInfo>, OssError> {
        let response = self
            .signed(reqwest::Method::HEAD, profile, key)?
            .send()
            .await
            .map_err(|e| OssError::Unreachable(e.to_string()))?;
        match response.status().as_u16() {
            200 => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                Ok(Some(ObjectInfo {
                    size: header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0),
                    content_type: header("content-type"),
                    etag: header("etag").map(|e| e.trim_matches('"').to_ascii_uppercase()),
                }))
            }
            404 => Ok(None),
            status => Err(OssError::Refused {
                status,
                code: response
                    .headers()
                    .get("x-oss-ec")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no error code (HEAD has no body)")
                    .to_string(),
            }),
        }
    }

    /// The object's first `limit` bytes (a ranged GET); `None` when the object does not exist.
    /// Reads no further than `limit` even when a server ignores the range and sends it all.
    pub async fn first_bytes(
        &self,
        profile: &Profile,
        key: &str,
        limit: u64,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, OssError> {
        let mut response = self
            .signed(reqwest::Method::GET, profile, key)?
            .header("Range", format!("bytes=0-{}", limit.saturating_sub(1)))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| OssError::Unreachable(e.to_string()))?;
        match response.status().as_u16() {
            200 | 206 => {
                let mut head = Vec::new();
                while (head.len() as u64) < limit {
                    match response
                        .chunk()
                        .await
                        .map_err(|e| OssError::Unreachable(e.to_string()))?
                    {
                        Some(chunk) => head.extend_from_slice(&chunk),
                        None => break,
                    }
                }
                head.truncate(limit as usize);
                Ok(Some(head))
            }
            404 => Ok(None),
            status => Err(refused(status, &response.text().await.unwrap_or_default())),
        }
    }

    pub async fn delete(&self, profile: &Profile, key: &str) -> Result<(), OssError> {
        let response = self
            .signed(reqwest::Method::DELETE, profile, key)?
            .send()
            .await
            .map_err(|e| OssError::Unreachable(e.to_string()))?;
        match response.status().as_u16() {
            200..=299 | 404 => Ok(()),
            status => Err(refused(status, &response.text().await.unwrap_or_default())),
        }
    }
}

/// An OSS error answer, with the `<Code>` of its XML body.
fn refused(status: u16, body: &str) -> OssError {
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or("unknown")
        .to_string();
    OssError::Refused { status, code }
}
