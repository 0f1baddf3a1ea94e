//! A stand-in for OSS's side of the callback: builds the callback body exactly as OSS would from
//! an issued credential, signs it with an RSA key generated here, and serves that public key
//! from a local HTTP server (which counts its fetches).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::Value;
use upload_signer::signing::{self, CallbackBodyType};

use crate::helpers::TestApp;

pub struct OssStandIn {
    key: RsaPrivateKey,
    pub key_url: String,
    pub prefix: String,
    pub fetches: Arc<AtomicUsize>,
}

/// What OSS knows about the stored object.
#[derive(Clone)]
pub struct ObjectFacts {
    pub size: u64,
    pub etag: &'static str,
    pub mime_type: &'static str,
    pub height: &'static str,
    pub width: &'static str,
    pub format: &'static str,
}

impl Default for ObjectFacts {
    fn default() -> Self {
        ObjectFacts {
            size: 2048,
            etag: "D41D8CD98F00B204E9800998ECF8427E",
            mime_type: "image/jpeg",
            height: "480",
            width: "640",
            format: "jpg",
        }
    }
}

pub struct SignedCallback {
    pub path: String,
    pub content_type: &'static str,
    pub body: String,
    pub authorization: String,
    pub key_url_header: String,
}

impl OssStandIn {
    pub async fn start() -> OssStandIn {
        Self::start_slow(std::time::Duration::ZERO).await
    }

    /// A key server that takes `delay` to answer (in-flight requests during shutdown).
    pub async fn start_slow(delay: std::time::Duration) -> OssStandIn {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("RSA key");
        let (prefix, fetches) = serve_public_key(&key, delay).await;
        OssStandIn {
            key,
            key_url: format!("{prefix}callback_pub_key_v1.pem"),
            prefix,
            fetches,
        }
    }

    /// The overrides a test server needs to admit this stand-in's key URL.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", self.prefix.clone())]
    }

    /// Renders and signs the callback OSS would send for `credential` (a `POST /v1/uploads` answer).
    pub fn callback_for(&self, credential: &Value, facts: &ObjectFacts) -> SignedCallback {
        let param = &credential["callback_param"];
        let template = param["callbackBody"].as_str().expect("callbackBody");
        let body_type = CallbackBodyType::parse(param["callbackBodyType"].as_str().unwrap()).unwrap();
        let lookup = |name: &str| -> Option<String> {
            Some(match name {
                "bucket" => credential["bucket"].as_str()?.to_string(),
                "object" => credential["key"].as_str()?.to_string(),
                "etag" => facts.etag.to_string(),
                "size" => facts.size.to_string(),
                "mimeType" => facts.mime_type.to_string(),
                "imageInfo.height" => facts.height.to_string(),
                "imageInfo.width" => facts.width.to_string(),
                "imageInfo.format" => facts.format.to_string(),
                "crc64" => "11051210869376104954".to_string(),
                "contentMd5" => "1B2M2Y8AsgTpgAmY7PhCfg==".to_string(),
                "clientIp" => "203.0.113.7".to_string(),
                "reqId" => "5F1D7E2A0000000000000001".to_string(),
                "operation" => "PutObject".to_string(),
                var if var.starts_with("x:") => credential["callback_vars"][var].as_str()?.to_string(),
                _ => return None,
            })
        };
        let body = signing::callback::render_body(template, body_type, lookup);
        let url = url::Url::parse(param["callbackUrl"].as_str().unwrap()).unwrap();
        self.sign(url.path(), body_type, body)
    }

    /// Signs an arbitrary body for `path`, as OSS would.
    pub fn sign(&self, path: &str, body_type: CallbackBodyType, body: String) -> SignedCallback {
        let authorization =
            signing::callback::sign_for_tests(&self.key, path, None, body.as_bytes()).unwrap();
        SignedCallback {
            path: path.to_string(),
            content_type: body_type.as_str(),
            body,
            authorization,
            key_url_header: STANDARD.encode(&self.key_url),
        }
    }
}

impl SignedCallback {
    pub async fn send(&self, app: &TestApp) -> reqwest::Response {
        self.send_to(&app.client, &app.address)
            .await
            .expect("callback sent")
    }

    /// Sends it to the service at `base` (`http://host:port`).
    pub async fn send_to(&self, client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
        client
            .post(format!("{base}{}", self.path))
            .header("content-type", self.content_type)
            .header("authorization", &self.authorization)
            .header("x-oss-pub-key-url", &self.key_url_header)
            .body(self.body.clone())
            .send()
            .await
    }
}

/// A key host under an allowed prefix that answers any path with a valid public key (not OSS's)
/// after `delay`: what forged callbacks point at. Returns its prefix and a fetch counter.
pub async fn any_path_key_host(delay: std::time::Duration) -> (String, Arc<AtomicUsize>) {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("RSA key");
    serve_public_key(&key, delay).await
}

/// Serves `key`'s public half on every path after `delay`; returns the server's prefix and a
/// fetch counter.
async fn serve_public_key(key: &RsaPrivateKey, delay: std::time::Duration) -> (String, Arc<AtomicUsize>) {
    let pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let server = HttpServer::new(move || {
        let pem = pem.clone();
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let pem = pem.clone();
            async move {
                tokio::time::sleep(delay).await;
                HttpResponse::Ok().content_type("text/plain").body(pem)
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind key server");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/"), fetches)
}
