//! The upload callback as OSS sends it: the body rendered from the template with the upload's
//! facts, signed with the emulator's RSA key, POSTed once with a 5 s timeout.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::keys::CallbackKey;
use super::objects::ObjectMeta;
use signing::callback::{self, CallbackParam, CallbackVars};

/// OSS waits this long for the callback server and never retries.
const TIMEOUT: Duration = Duration::from_secs(5);
/// OSS refuses larger callback answers; it also bounds what we hold in memory.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Everything OSS knows about an upload when it renders the callback body.
#[derive(Debug, Clone, Copy)]
pub struct UploadFacts<'a> {
    pub object: &'a ObjectMeta,
    pub client_ip: &'a str,
    pub request_id: &'a str,
    /// `PutObject`, `PostObject` or `CompleteMultipartUpload`.
    pub operation: &'a str,
    pub vars: &'a CallbackVars,
}

impl UploadFacts<'_> {
    /// The value of a system (`size`) or custom (`x:name`) variable.
    pub fn value(&self, name: &str) -> Option<String> {
        let o = self.object;
        let image = o.image.as_ref();
        Some(match name {
            "bucket" => o.bucket.clone(),
            "object" => o.key.clone(),
            "etag" => o.etag.clone(),
            "size" => o.size.to_string(),
            "mimeType" => o.content_type.clone(),
            "imageInfo.height" => image.map(|i| i.height.to_string()).unwrap_or_default(),
            "imageInfo.width" => image.map(|i| i.width.to_string()).unwrap_or_default(),
            "imageInfo.format" => image.map(|i| i.format.clone()).unwrap_or_default(),
            "crc64" => o.crc64.to_string(),
            "contentMd5" => o.content_md5.clone(),
            "vpcId" => String::new(),
            "clientIp" => self.client_ip.to_owned(),
            "reqId" => self.request_id.to_owned(),
            "operation" => self.operation.to_owned(),
            custom => return self.vars.get(custom).map(str::to_owned),
        })
    }

    pub fn render(&self, param: &CallbackParam) -> String {
        callback::render_body(&param.body, param.body_type, |name| self.value(name))
    }
}

pub struct CallbackSender {
    client: reqwest::Client,
    key: Arc<CallbackKey>,
    /// base64 of the URL serving our public key: the `x-oss-pub-key-url` header.
    pub_key_url_b64: String,
}

impl CallbackSender {
    pub fn new(key: Arc<CallbackKey>, pub_key_url: &str) -> reqwest::Result<CallbackSender> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("aliyun-oss-callback")
            .build()?;
        Ok(CallbackSender {
            client,
            key,
            pub_key_url_b64: STANDARD.encode(pub_key_url),
        })
    }

    /// Tries each `;`-separated URL in turn; the first 200 with a JSON body is the answer.
    /// The error is OSS's `CallbackFailed` message for the last attempt.
    pub async fn send(&self, param: &CallbackParam, body: &str) -> Result<Bytes, String> {
        let mut failure = "No callback URL.".to_owned();
        for url in param.url.split(';').map(str::trim).filter(|u| !u.is_empty()) {
            match self.send_one(url, param, body).await {
                Ok(answer) => return Ok(answer),
                Err(reason) => {
                    tracing::warn!(url, reason = %reason, "emulator: callback failed");
                    failure = reason;
                }
            }
        }
        Err(failure)
    }

    async fn send_one(&self, raw_url: &str, param: &CallbackParam, body: &str) -> Result<Bytes, String> {
        let url = url::Url::parse(raw_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| "Invalid callback url.".to_owned())?;
        let authorization =
            callback::sign_for_tests(&self.key.private, url.path(), url.query(), body.as_bytes())
                .map_err(|_| "Signing the callback failed.".to_owned())?;
        let host = match &param.host {
            Some(h) if !h.is_empty() => h.clone(),
            _ => match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                (None, _) => String::new(),
            },
        };
        let mut response = self
            .client
            .post(url)
            .header(reqwest::header::HOST, host)
            .header(reqwest::header::CONTENT_TYPE, param.body_type.as_str())
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header("x-oss-pub-key-url", &self.pub_key_url_b64)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "Timeout when calling the callback server.".to_owned()
                } else {
                    "Error when connecting to the callback server.".to_owned()
                }
            })?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("Error status : {}.", status.as_u16()));
        }
        let mut answer = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| "Error reading the callback answer.".to_owned())?
        {
            if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err("Response body is too large.".to_owned());
            }
            answer.extend_from_slice(&chunk);
        }
        if serde_json::from_slice::<serde_json::Value>(&answer).is_err() {
            return Err("Response body is not valid json format.".to_owned());
        }
        Ok(Bytes::from(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_info::ImageInfo;
    use signing::CallbackBodyType;

    fn object() -> ObjectMeta {
        ObjectMeta {
            bucket: "demo-bucket".into(),
            key: "avatars/a b/x.png".into(),
            size: 68,
            content_type: "image/png".into(),
            etag: "0CC175B9C0F1B6A831C399E269772661".into(),
            content_md5: "DMF1ucDxtqgxw5niaXcmYQ==".into(),
            crc64: 18_446_744_073_709_551_615,
            image: Some(ImageInfo {
                width: 3,
                height: 2,
                format: "png".into(),
            }),
            last_modified: chrono::Utc::now(),
            user_meta: vec![],
            object_type: "Normal".into(),
        }
    }

    #[test]
    fn bodies_carry_the_upload_facts() {
        let object = object();
        let mut vars = CallbackVars::new();
        vars.insert("x:caption", "hi there").unwrap();
        let facts = UploadFacts {
            object: &object,
            client_ip: "127.0.0.1",
            request_id: "REQ",
            operation: "PostObject",
            vars: &vars,
        };
        let json = CallbackParam {
            url: "http://127.0.0.1/cb".into(),
            host: None,
            body: r#"{"o":${object},"s":${size},"w":${imageInfo.width},"c":${crc64},"x":${x:caption},"n":${x:none}}"#
                .into(),
            body_type: CallbackBodyType::Json,
            sni: None,
        };
        assert_eq!(
            facts.render(&json),
            r#"{"o":"avatars/a b/x.png","s":68,"w":3,"c":"18446744073709551615","x":"hi there","n":""}"#
        );
        let form = CallbackParam {
            body: "object=${object}&etag=${etag}&op=${operation}&ip=${clientIp}&f=${imageInfo.format}".into(),
            body_type: CallbackBodyType::FormUrlEncoded,
            ..json
        };
        assert_eq!(
            facts.render(&form),
            "object=avatars%2Fa%20b%2Fx.png&etag=0CC175B9C0F1B6A831C399E269772661&op=PostObject&ip=127.0.0.1&f=png"
        );
    }
}
