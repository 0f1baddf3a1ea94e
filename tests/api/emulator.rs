//! The built-in OSS emulator over real HTTP: credentials issued by the service are uploaded to it
//! as an app would (PostObject V4 and V1 forms, presigned PUT), its callbacks land on a small
//! receiver started here and are checked with `signing::callback::verify`, and forged uploads
//! are refused with OSS's codes. The emulator never touches the database, so these run on SQLite
//! only.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use upload_signer::signing::{self, callback, CallbackParam, PostPolicy};

use crate::helpers::{spawn_app_with, xml_element, StoreKind, TestApp, DEV_OSS_KEY_ID, DEV_OSS_SECRET};

/// One callback as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: Option<String>,
    host: String,
    content_type: String,
    authorization: String,
    pub_key_url: String,
    body: Vec<u8>,
}

/// A stand-in for the service's callback endpoint: records every POST and answers 200 JSON,
/// except under `/fail`, where it answers 500.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let data = web::Data::from(seen.clone());
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
                .workers(1)
                .bind(("127.0.0.1", 0))
                .expect("bind receiver");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Receiver { port, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(req: HttpRequest, body: web::Bytes, seen: web::Data<Mutex<Vec<Received>>>) -> HttpResponse {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    seen.lock().unwrap().push(Received {
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        host: header("host"),
        content_type: header("content-type"),
        authorization: header("authorization"),
        pub_key_url: header("x-oss-pub-key-url"),
        body: body.to_vec(),
    });
    if req.path() == "/fail" {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok().json(json!({"recorded": true, "path": req.path()}))
}

struct Setup {
    app: TestApp,
    receiver: Receiver,
    _data: tempfile::TempDir,
}

impl Setup {
    fn emulator(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.app.emulator_port.expect("emulator runs")
        )
    }
}

/// The service with the emulator on a random port, callbacks pointed at a fresh receiver.
async fn setup(callback_path: &str) -> Setup {
    let receiver = Receiver::start().await;
    let data = tempfile::tempdir().unwrap();
    let app = spawn_with_emulator(data.path(), &receiver.url(callback_path)).await;
    Setup {
        app,
        receiver,
        _data: data,
    }
}

async fn spawn_with_emulator(data_dir: &std::path::Path, callback_url: &str) -> TestApp {
    let dir = data_dir.display().to_string();
    spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("APP__EMULATOR__ENABLED", "true"),
            ("APP__EMULATOR__PORT", "0"),
            ("APP__EMULATOR__DATA_DIR", &dir),
            ("APP__CALLBACK__URL", callback_url),
        ],
    )
    .await
}

/// A 3x2 PNG (signature and IHDR are all the emulator reads).
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    b.extend_from_slice(b"not really pixels");
    b
}

/// The start of an MP4 (an `ftyp` box is what a sniffer reads).
fn mp4() -> Vec<u8> {
    b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom a tiny movie".to_vec()
}

fn md5_upper(b: &[u8]) -> String {
    hex::encode_upper(Md5::digest(b))
}

async fn issue(app: &TestApp, profile: &str, filename: &str, content_type: &str, size: usize) -> Value {
    let token = app.token_for("alice");
    app.issue(
        &token,
        json!({"profile": profile, "filename": filename, "content_type": content_type, "size": size}),
    )
    .await
}

/// The form fields of a credential, in order.
fn fields(c: &Value) -> Vec<(String, String)> {
    c["form"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    fields.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_owned();
}

/// Uploads fields in order and the file last, as a browser or mobile SDK does.
async fn post_form(
    action: &str,
    fields: &[(String, String)],
    file: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("upload.bin")
        .mime_str(content_type)
        .unwrap();
    form = form.part("file", part);
    reqwest::Client::new()
        .post(action)
        .multipart(form)
        .send()
        .await
        .expect("upload sent")
}

/// Uploads a credential's own form, untouched.
async fn post_credential(c: &Value, file: Vec<u8>, content_type: &str) -> reqwest::Response {
    post_form(
        c["form"]["action"].as_str().unwrap(),
        &fields(c),
        file,
        content_type,
    )
    .await
}

/// GETs an object through a V4 presigned URL.
async fn get_object(emulator: &str, key: &str) -> reqwest::Response {
    reqwest::get(presigned(emulator, "GET", key))
        .await
        .expect("GET sent")
}

/// Status, OSS error code and the request id header of an error answer.
async fn oss_error(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    assert!(resp.headers().contains_key("x-oss-request-id"));
    let body = resp.text().await.unwrap();
    for element in ["<Message>", "<RequestId>", "<HostId>"] {
        assert!(body.contains(element), "{body}");
    }
    let code = xml_element(&body, "Code").to_owned();
    (status, code)
}

/// A V4 presigned URL for the object, made with the development key the service runs with.
fn presigned(base: &str, method: &str, key: &str) -> String {
    signing::v4::presign_url(&signing::PresignV4 {
        origin: &format!("{base}/demo-bucket"),
        access_key_id: DEV_OSS_KEY_ID,
        secret: DEV_OSS_SECRET,
        region: "cn-hangzhou",
        method,
        bucket: "demo-bucket",
        key,
        at: Utc::now(),
        expires_in: 300,
        ..Default::default()
    })
    .unwrap()
}

/// Checks the callback's RSA signature with the public key the emulator serves.
async fn assert_signed_by_emulator(cb: &Received, emulator: &str) {
    let key_url = String::from_utf8(STANDARD.decode(&cb.pub_key_url).unwrap()).unwrap();
    assert!(
        key_url.starts_with(&format!("{emulator}/_emulator/")),
        "{key_url}"
    );
    let pem = reqwest::get(&key_url).await.unwrap().text().await.unwrap();
    let key = callback::parse_public_key_pem(&pem).unwrap();
    callback::verify(&key, &cb.authorization, &cb.path, cb.query.as_deref(), &cb.body)
        .expect("signature verifies");
    let mut forged = cb.body.clone();
    forged.push(b' ');
    assert!(callback::verify(&key, &cb.authorization, &cb.path, cb.query.as_deref(), &forged).is_err());
}

#[tokio::test]
async fn v4_form_upload_is_stored_and_its_callback_relayed() {
    let s = setup("/v1/oss/callback").await;
    let emulator = s.emulator();
    let file = png();
    let c = issue(&s.app, "avatar", "me.png", "image/png", file.len()).await;
    assert_eq!(c["host"], format!("{emulator}/demo-bucket"));
    let key = c["key"].as_str().unwrap();

    let resp = post_credential(&c, file.clone(), "image/png").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", md5_upper(&file))
    );
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer, json!({"recorded": true, "path": "/v1/oss/callback"}));

    let callbacks = s.receiver.received();
    assert_eq!(callbacks.len(), 1);
    let cb = &callbacks[0];
    assert_eq!(cb.host, format!("127.0.0.1:{}", s.receiver.port));
    assert_eq!(cb.content_type, "application/json");
    assert_signed_by_emulator(cb, &emulator).await;
    let body: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["bucket"], "demo-bucket");
    assert_eq!(body["object"], key);
    assert_eq!(body["size"], file.len());
    assert_eq!(body["mimeType"], "image/png");
    assert_eq!(body["etag"], md5_upper(&file));
    assert_eq!(
        (body["width"].clone(), body["height"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(body["format"], "png");
    assert_eq!(body["clientIp"], "127.0.0.1");
    let token = signing::upload_callback::token_in_template(
        &CallbackParam::parse_base64(c["callback"].as_str().unwrap())
            .unwrap()
            .body,
        signing::CallbackBodyType::Json,
    )
    .unwrap();
    assert_eq!(body["token"], token);

    // Stored: GET with a V4 presigned URL returns the bytes and OSS's headers.
    let got = get_object(&emulator, key).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    let crc: u64 = got.headers()["x-oss-hash-crc64ecma"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(crc, crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(&file));
    assert_eq!(got.bytes().await.unwrap(), file);
}

#[tokio::test]
async fn v1_form_upload_sends_a_form_encoded_callback() {
    let s = setup("/v1/oss/callback").await;
    let file = b"\0\0\0\x18ftypmp42 a tiny movie".to_vec();
    let c = issue(&s.app, "video", "clip.mp4", "video/mp4", file.len()).await;
    assert_eq!(c["signature_version"], "v1");
    let resp = post_credential(&c, file.clone(), "video/mp4").await;
    assert_eq!(resp.status(), 200);
    let cb = s.receiver.received().pop().expect("callback sent");
    assert_eq!(cb.content_type, "application/x-www-form-urlencoded");
    assert_signed_by_emulator(&cb, &s.emulator()).await;
    let body = String::from_utf8(cb.body.clone()).unwrap();
    let key = c["key"].as_str().unwrap();
    let encoded_key = key.replace('/', "%2F");
    assert!(body.contains(&format!("object={encoded_key}&")), "{body}");
    assert!(body.contains(&format!("size={}&", file.len())), "{body}");
    assert!(body.contains("mimeType=video%2Fmp4&"), "{body}");
    assert!(body.contains("height=&width=&format=&"), "{body}");

    // HEAD, header-signed with V1 (`Authorization: OSS ak:sig`).
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let to_sign = signing::StringToSign {
        method: "HEAD",
        date: &date,
        bucket: Some("demo-bucket"),
        key,
        ..Default::default()
    }
    .build();
    let auth = signing::v1::authorization(DEV_OSS_KEY_ID, &signing::v1::sign(DEV_OSS_SECRET, &to_sign));
    let head = s
        .app
        .client
        .head(format!("{}/demo-bucket/{key}", s.emulator()))
        .header("Date", &date)
        .header("Authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], file.len().to_string().as_str());
    assert_eq!(
        head.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", md5_upper(&file))
    );
}

#[tokio::test]
async fn presigned_puts_store_the_object_and_relay_the_callback() {
    let s = setup("/v1/oss/callback").await;
    for (profile, filename, content_type) in [
        ("avatar", "me.png", "image/png"),
        ("video", "clip.mp4", "video/mp4"),
    ] {
        let file = png();
        let c = issue(&s.app, profile, filename, content_type, file.len()).await;
        let resp = s.app.put_object(&c, file.clone()).await;
        assert_eq!(resp.status(), 200, "{profile}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["recorded"], true);
        let cb = s.receiver.received().pop().expect("callback sent");
        assert_signed_by_emulator(&cb, &s.emulator()).await;
        let got = get_object(&s.emulator(), c["key"].as_str().unwrap()).await;
        assert_eq!(got.bytes().await.unwrap(), file, "{profile}");
    }
    assert_eq!(s.receiver.received().len(), 2);
}

#[tokio::test]
async fn forged_uploads_are_refused_with_oss_codes() {
    let s = setup("/v1/oss/callback").await;
    let file = png();
    let c = issue(&s.app, "avatar", "me.png", "image/png", file.len()).await;
    let action = c["form"]["action"].as_str().unwrap();
    let key = c["key"].as_str().unwrap();

    let mut tampered = fields(&c);
    let sig = c["form"]["fields"][5]["value"].as_str().unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    set(
        &mut tampered,
        "x-oss-signature",
        &format!("{flipped}{}", &sig[1..]),
    );
    let resp = post_form(action, &tampered, file.clone(), "image/png").await;
    assert_eq!(oss_error(resp).await, (403, "SignatureDoesNotMatch".into()));

    let mut wrong_key = fields(&c);
    let credential = c["form"]["fields"][3]["value"].as_str().unwrap();
    set(
        &mut wrong_key,
        "x-oss-credential",
        &credential.replacen(DEV_OSS_KEY_ID, "LTAI-someone-else", 1),
    );
    let resp = post_form(action, &wrong_key, file.clone(), "image/png").await;
    assert_eq!(oss_error(resp).await, (403, "InvalidAccessKeyId".into()));

    let resp = post_form(
        action,
        &fields(&c),
        [file.clone(), b"!".to_vec()].concat(),
        "image/png",
    )
    .await;
    assert_eq!(oss_error(resp).await, (400, "EntityTooLarge".into()));

    // Another callback, validly encoded, pointing elsewhere: the policy pins the original.
    let mut swapped = fields(&c);
    let other = CallbackParam {
        url: "http://127.0.0.1:1/steal".into(),
        host: None,
        body: "object=${object}".into(),
        body_type: signing::CallbackBodyType::FormUrlEncoded,
        sni: None,
    };
    set(&mut swapped, "callback", &other.to_base64());
    let resp = post_form(action, &swapped, file.clone(), "image/png").await;
    assert_eq!(oss_error(resp).await, (403, "AccessDenied".into()));

    // A correctly signed policy that has expired.
    let now = Utc::now();
    let expired = PostPolicy {
        expiration: now - chrono::Duration::minutes(1),
        conditions: signing::v4::post_conditions(DEV_OSS_KEY_ID, now, "cn-hangzhou", None),
    }
    .to_base64();
    let mut old = fields(&c);
    set(&mut old, "policy", &expired);
    set(
        &mut old,
        "x-oss-signature",
        &signing::v4::post_signature(DEV_OSS_SECRET, &expired, now, "cn-hangzhou"),
    );
    set(&mut old, "x-oss-date", &signing::v4::x_oss_date(now));
    let resp = post_form(action, &old, file.clone(), "image/png").await;
    assert_eq!(oss_error(resp).await, (403, "AccessDenied".into()));

    // The presigned PUT with a tampered signature.
    let url = c["put"]["url"].as_str().unwrap();
    let (head, sig) = url.rsplit_once("x-oss-signature=").unwrap();
    let bad = format!(
        "{head}x-oss-signature={}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    let resp = s
        .app
        .client
        .put(bad)
        .header("Content-Type", "image/png")
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(oss_error(resp).await, (403, "SignatureDoesNotMatch".into()));

    // Nothing was stored, and no callback was sent.
    let resp = get_object(&s.emulator(), key).await;
    assert_eq!(oss_error(resp).await, (404, "NoSuchKey".into()));
    assert!(s.receiver.received().is_empty());
}

#[tokio::test]
async fn a_failed_callback_answers_203_and_keeps_the_object() {
    let s = setup("/fail").await;
    let file = png();
    let c = issue(&s.app, "avatar", "me.png", "image/png", file.len()).await;
    let resp = post_credential(&c, file.clone(), "image/png").await;
    assert_eq!(oss_error(resp).await, (203, "CallbackFailed".into()));
    assert_eq!(s.receiver.received().len(), 1);
    let got = get_object(&s.emulator(), c["key"].as_str().unwrap()).await;
    assert_eq!(got.status(), 200);
}

#[tokio::test]
async fn virtual_host_requests_work_and_objects_survive_a_restart() {
    let s = setup("/v1/oss/callback").await;
    let emulator = s.emulator();
    let port = s.app.emulator_port.unwrap();
    let signed = |method: &str| {
        signing::v4::sign_headers(&signing::HeaderSignV4 {
            access_key_id: DEV_OSS_KEY_ID,
            secret: DEV_OSS_SECRET,
            region: "cn-hangzhou",
            method,
            bucket: Some("demo-bucket"),
            key: "notes/hello world.txt",
            headers: &[("Content-Type", "text/plain")],
            at: Utc::now(),
            ..Default::default()
        })
        .unwrap()
    };
    let url = format!("{emulator}/notes/hello%20world.txt");
    let host = format!("demo-bucket.localhost:{port}");
    let mut put = s
        .app
        .client
        .put(&url)
        .header("Host", &host)
        .header("Content-Type", "text/plain")
        .body("hello");
    for (k, v) in signed("PUT") {
        put = put.header(k, v);
    }
    let resp = put.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-oss-request-id"));

    // A second service on the same data directory serves the object and the same key.
    let pem = reqwest::get(format!("{emulator}/_emulator/callback_pub_key_v1.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let again = spawn_with_emulator(s._data.path(), &s.receiver.url("/v1/oss/callback")).await;
    let emulator2 = format!("http://127.0.0.1:{}", again.emulator_port.unwrap());
    let got = get_object(&emulator2, "notes/hello world.txt").await;
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.text().await.unwrap(), "hello");
    let pem2 = reqwest::get(format!("{emulator2}/_emulator/callback_pub_key_v1.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pem, pem2);

    // DELETE, header-signed V4 on the virtual host; then the object is gone.
    let mut delete = s
        .app
        .client
        .delete(&url)
        .header("Host", &host)
        .header("Content-Type", "text/plain");
    for (k, v) in signed("DELETE") {
        delete = delete.header(k, v);
    }
    assert_eq!(delete.send().await.unwrap().status(), 204);
    let resp = get_object(&emulator, "notes/hello world.txt").await;
    assert_eq!(oss_error(resp).await, (404, "NoSuchKey".into()));
}

/// The whole loop on one machine: the service issues, the emulator stores and calls back, and
/// the service's own callback endpoint verifies the emulator's signature (fetching the key from
/// the allow-listed emulator URL), records the upload and answers the app through the emulator.
#[tokio::test]
async fn the_services_callback_records_emulator_uploads() {
    // The default callback URL is on loopback: the service points it at the port it bound.
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator(&data).await;
    let token = app.token_for("alice");
    let mut uploaded = Vec::new();
    for (profile, filename, content_type, file) in [
        ("avatar", "me.png", "image/png", png()),
        ("video", "clip.mp4", "video/mp4", mp4()),
    ] {
        let c = issue(&app, profile, filename, content_type, file.len()).await;
        let resp = post_credential(&c, file.clone(), content_type).await;
        assert_eq!(resp.status(), 200, "{profile}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["upload_id"], c["upload_id"], "{answer}");
        assert_eq!(answer["key"], c["key"]);
        assert_eq!(answer["etag"], md5_upper(&file));
        uploaded.push(c["upload_id"].as_str().unwrap().to_owned());
    }
    let c = issue(&app, "avatar", "again.png", "image/png", png().len()).await;
    let resp = app.put_object(&c, png()).await;
    assert_eq!(resp.status(), 200);
    uploaded.push(c["upload_id"].as_str().unwrap().to_owned());

    let resp = app
        .client
        .get(app.url("/v1/me/uploads"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let mut listed: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["upload_id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    uploaded.sort();
    assert_eq!(listed, uploaded);
}

/// A credential stays usable until it expires, but never to replace what it uploaded: the form
/// and the presigned PUT carry a signed `x-oss-forbid-overwrite: true`, which the emulator
/// enforces as OSS does (`409 FileAlreadyExists`), so the record keeps describing the bucket.
#[tokio::test]
async fn a_reused_credential_cannot_replace_the_recorded_object() {
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator(&data).await;
    let first = png();
    let mut second = png();
    second.extend_from_slice(&[0u8; 4096]);
    let c = issue(&app, "avatar", "me.png", "image/png", second.len()).await;
    assert_eq!(app.put_object(&c, first.clone()).await.status(), 200);
    let again = app.put_object(&c, second.clone()).await;
    assert_eq!(oss_error(again).await, (409, "FileAlreadyExists".into()));
    let again = post_credential(&c, second.clone(), "image/png").await;
    assert_eq!(oss_error(again).await, (409, "FileAlreadyExists".into()));
    // Dropping the field from the form breaks the policy.
    let mut fields = fields(&c);
    fields.retain(|(k, _)| k != "x-oss-forbid-overwrite");
    let dropped = post_form(
        c["form"]["action"].as_str().unwrap(),
        &fields,
        second,
        "image/png",
    )
    .await;
    assert_eq!(oss_error(dropped).await.0, 403);

    let stored = get_object(&emulator_of(&app), c["key"].as_str().unwrap()).await;
    assert_eq!(stored.bytes().await.unwrap(), first, "the first object stays");
    let record = app
        .store()
        .get_upload(c["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(record.size, Some(first.len() as i64));
    assert_eq!(record.etag.as_deref(), Some(md5_upper(&first).as_str()));
}

fn emulator_of(app: &TestApp) -> String {
    format!("http://127.0.0.1:{}", app.emulator_port.unwrap())
}

/// The service with its emulator, which calls the service's own callback URL.
async fn with_emulator(data: &tempfile::TempDir) -> TestApp {
    let dir = data.path().display().to_string();
    spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("APP__EMULATOR__ENABLED", "true"),
            ("APP__EMULATOR__PORT", "0"),
            ("APP__EMULATOR__DATA_DIR", &dir),
        ],
    )
    .await
}

/// A form policy or a signed `Content-Type` fixes the declared type, never the bytes: the
/// completion reads the object's first bytes (a ranged GET, which the emulator serves as OSS
/// does) and rejects, and here deletes, an HTML page sent as `image/png`, by any way of upload.
#[tokio::test]
async fn bytes_that_contradict_the_declared_type_are_rejected_and_deleted() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("APP__EMULATOR__ENABLED", "true"),
            ("APP__EMULATOR__PORT", "0"),
            ("APP__EMULATOR__DATA_DIR", &dir),
            ("APP__RECONCILE__DELETE_REJECTED", "true"),
        ],
    )
    .await;
    let emulator = emulator_of(&app);
    let page = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>".to_vec();

    // The emulator serves ranges as OSS does: 206 with Content-Range, or the whole object.
    let c = issue(&app, "avatar", "me.png", "image/png", png().len()).await;
    assert_eq!(app.put_object(&c, png()).await.status(), 200);
    let key = c["key"].as_str().unwrap();
    let ranged = reqwest::Client::new()
        .get(presigned(&emulator, "GET", key))
        .header("Range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 0-7/{}", png().len()).as_str()
    );
    assert_eq!(ranged.bytes().await.unwrap(), png()[..8]);
    let record = app
        .store()
        .get_upload(c["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        record.status.as_str(),
        "completed",
        "a real PNG passes: {record:?}"
    );

    let by_form = issue(&app, "avatar", "me.png", "image/png", page.len()).await;
    let resp = post_credential(&by_form, page.clone(), "image/png").await;
    assert_eq!(resp.status(), 200, "the policy allows the declared type");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["status"], "rejected", "{answer}");
    let reason = answer["reason"].as_str().unwrap();
    assert!(
        reason.contains("text/html") && reason.contains("image/png"),
        "{reason}"
    );

    let by_put = issue(&app, "chat-image", "x.jpg", "image/jpeg", page.len()).await;
    assert_eq!(app.put_object(&by_put, page.clone()).await.status(), 200);

    for c in [&by_form, &by_put] {
        let id = c["upload_id"].as_str().unwrap();
        let record = app.store().get_upload(id).await.unwrap();
        assert_eq!(record.status.as_str(), "rejected", "{record:?}");
        assert!(
            record.reason.as_deref().unwrap().contains("text/html"),
            "{record:?}"
        );
        // A callback's deletion runs after OSS has its answer.
        let key = c["key"].as_str().unwrap();
        let mut gone = false;
        for _ in 0..50 {
            if get_object(&emulator, key).await.status() == 404 {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(gone, "the rejected object {key} was deleted from the bucket");
    }
}
