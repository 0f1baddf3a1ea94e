//! A resumable (multipart) upload signed by the custom signer, as the Android SDK makes it with
//! `OSSCustomSignerCredentialProvider`: the SDK builds each V1 string to sign, `signContent`
//! sends it (and the credential's `callback`) to `POST /v1/uploads/sign`, and the request goes to
//! the emulator with the answer as `Authorization`. Initiate, parts, list, abort and complete
//! with the issued callback are signed; a foreign key, an expired credential, a changed callback
//! or a profile without `multipart` are not.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use upload_signer::store::UploadStatus;

use crate::helpers::{
    error_code, spawn_app_with, test_settings, with_sub_resources, xml_element, StoreKind, TestApp,
};

const BUCKET: &str = "demo-bucket";
/// The smallest part OSS takes: keeps the test's files small.
const PART: usize = 100 * 1024;
const OVERWRITE: (&str, &str) = ("x-oss-forbid-overwrite", "true");

/// Query parameters the Android SDK puts into the canonicalized resource: the multipart ones of
/// `SignParameters.SIGNED_PARAMTERS` (plus `security-token`, never sent in custom-signer mode).
const ANDROID_SIGNED_PARAMETERS: &[&str] = &["partNumber", "security-token", "uploadId", "uploads"];

/// The Android SDK's V1 string to sign, ported from `SignUtils.buildCanonicalString` in
/// aliyun/aliyun-oss-android-sdk,
/// `oss-android-sdk/src/main/java/com/alibaba/sdk/android/oss/common/utils/SignUtils.java`
/// (with `buildCanonicalizedResource` beside it), written independently of the service's own
/// builder so that the test checks one against the other:
/// - the method, then one line per signed header in the order of their lowercased names:
///   `content-md5`, `content-type` and `date` as bare values (the first two empty when absent),
///   each `x-oss-*` header as `name:value`, values trimmed;
/// - then the resource path, then the signed query parameters sorted by name, `?` before the
///   first and `&` between, each as `name` or `name=value` (a blank value adds no `=`).
fn android_canonical_string(
    method: &str,
    resource_path: &str,
    headers: &[(&str, &str)],
    params: &[(&str, &str)],
) -> String {
    let mut signed: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if ["content-type", "content-md5", "date"].contains(&lower.as_str()) || lower.starts_with("x-oss-") {
            signed.insert(lower, value.trim().to_string());
        }
    }
    signed.entry("content-type".into()).or_default();
    signed.entry("content-md5".into()).or_default();
    let mut out = format!("{method}\n");
    for (name, value) in &signed {
        if name.starts_with("x-oss-") {
            out.push_str(&format!("{name}:{value}\n"));
        } else {
            out.push_str(&format!("{value}\n"));
        }
    }
    out.push_str(resource_path);
    let mut names: Vec<&str> = params.iter().map(|(k, _)| *k).collect();
    names.sort_unstable();
    let mut separator = '?';
    for name in names
        .into_iter()
        .filter(|n| ANDROID_SIGNED_PARAMETERS.contains(n))
    {
        out.push(separator);
        out.push_str(name);
        let value = params.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| *v);
        if !value.trim().is_empty() {
            out.push('=');
            out.push_str(value);
        }
        separator = '&';
    }
    out
}

/// The `Date` header as the Android SDK writes it (`DateUtil.formatRfc822Date`).
fn rfc822(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// An app on the custom signer: its user's access token and the credential's `callback`.
struct App<'a> {
    app: &'a TestApp,
    token: String,
    callback: Option<String>,
}

/// One OSS call, as the SDK assembles it before signing.
struct Call<'a> {
    method: &'a str,
    key: &'a str,
    params: &'a [(&'a str, &'a str)],
    headers: &'a [(&'a str, &'a str)],
}

impl Call<'_> {
    fn content(&self, date: &str) -> String {
        let mut headers = self.headers.to_vec();
        headers.push(("Date", date));
        android_canonical_string(
            self.method,
            &format!("/{BUCKET}/{}", self.key),
            &headers,
            self.params,
        )
    }
}

impl App<'_> {
    /// `signContent`: what the app's custom signer asks the service.
    async fn sign(&self, call: &Call<'_>, date: &str) -> reqwest::Response {
        let mut body = json!({ "content": call.content(date) });
        if let Some(callback) = &self.callback {
            body["callback"] = json!(callback);
        }
        self.app
            .post_json("/v1/uploads/sign", Some(&self.token), &body)
            .await
    }

    async fn refused(&self, call: &Call<'_>) -> String {
        let resp = self.sign(call, &rfc822(Utc::now())).await;
        assert_eq!(resp.status(), 403);
        error_code(resp).await
    }

    /// Sign with the service, then send to the emulator, as the SDK does.
    async fn send(&self, call: &Call<'_>, body: Vec<u8>) -> reqwest::Response {
        let date = rfc822(Utc::now());
        let resp = self.sign(call, &date).await;
        let status = resp.status();
        let signed: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{} {:?}: {signed}", call.method, call.params);
        let url = with_sub_resources(
            format!(
                "http://127.0.0.1:{}/{BUCKET}/{}",
                self.app.emulator_port.unwrap(),
                call.key
            ),
            call.params,
        );
        let mut req = reqwest::Client::new()
            .request(call.method.parse().unwrap(), url)
            .header("Date", date)
            .header("Authorization", signed["authorization"].as_str().unwrap())
            .body(body);
        for (k, v) in call.headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }
}

/// InitiateMultipartUpload as `ResumableUploadRequest` sends it, with the metadata the
/// quickstart sets (the issued content type, `x-oss-forbid-overwrite: true`).
fn initiate(key: &str) -> Call<'_> {
    Call {
        method: "POST",
        key,
        params: &[("uploads", "")],
        headers: &[("Content-Type", "video/mp4"), OVERWRITE],
    }
}

#[test]
fn the_android_port_builds_what_the_service_parses() {
    let s = android_canonical_string(
        "PUT",
        "/b/k.mp4",
        &[
            ("Date", "Thu, 03 Dec 2026 14:00:00 GMT"),
            ("Content-Type", "video/mp4"),
            ("X-OSS-Forbid-Overwrite", " true "),
            ("Host", "b.example"),
        ],
        &[("uploadId", "AB"), ("partNumber", "2"), ("max-parts", "9")],
    );
    assert_eq!(
        s,
        "PUT\n\nvideo/mp4\nThu, 03 Dec 2026 14:00:00 GMT\nx-oss-forbid-overwrite:true\n/b/k.mp4?partNumber=2&uploadId=AB"
    );
    let parsed = upload_signer::signing::parse_string_to_sign(&s).unwrap();
    assert_eq!(parsed.to_string_to_sign(), s);
    let init = android_canonical_string("POST", "/b/k", &[("Date", "x")], &[("uploads", "")]);
    assert_eq!(init, "POST\n\n\nx\n/b/k?uploads");
}

/// The service and its emulator; video parts of 100 KiB so that the files stay small.
async fn with_emulator(kind: StoreKind, data: &tempfile::TempDir) -> TestApp {
    let dir = data.path().display().to_string();
    spawn_app_with(
        kind,
        &[
            ("APP__EMULATOR__ENABLED", "true"),
            ("APP__EMULATOR__PORT", "0"),
            ("APP__EMULATOR__DATA_DIR", dir.as_str()),
            ("APP__PROFILES__VIDEO__PART_SIZE_BYTES", "102400"),
        ],
    )
    .await
}

async fn custom_signer_signs_a_whole_resumable_upload(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator(kind, &data).await;
    let alice_token = app.token_for("alice");

    // The catalogue and the credential say which way to upload.
    let catalogue: Value = app
        .client
        .get(app.url("/v1/profiles"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let profile = |name: &str| {
        catalogue["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(profile("video")["multipart"], true);
    assert_eq!(profile("video")["part_size_bytes"], PART);
    assert_eq!(profile("avatar")["multipart"], false);
    assert!(profile("avatar").get("part_size_bytes").is_none());
    let video = |size: usize| json!({"profile": "video", "filename": "clip.mp4", "content_type": "video/mp4", "size": size});
    let small = app.issue(&alice_token, video(PART)).await;
    assert_eq!(small["upload"], json!({"method": "single"}));

    let parts: [Vec<u8>; 3] = [
        (0..PART).map(|i| (i % 251) as u8).collect(),
        vec![7u8; PART],
        b"the last part may be small".to_vec(),
    ];
    let whole = parts.concat();
    let c = app.issue(&alice_token, video(whole.len())).await;
    assert_eq!(c["upload"], json!({"method": "multipart", "part_size": PART}));
    let key = c["key"].as_str().unwrap().to_owned();
    let callback = c["callback"].as_str().unwrap().to_owned();
    let alice = App {
        app: &app,
        token: alice_token.clone(),
        callback: Some(callback.clone()),
    };

    let resp = alice.send(&initiate(&key), vec![]).await;
    assert_eq!(resp.status(), 200);
    let doc = resp.text().await.unwrap();
    let upload_id = xml_element(&doc, "UploadId").to_owned();

    let mut etags = Vec::new();
    for (n, part) in ["1", "2", "3"].into_iter().zip(&parts) {
        let call = Call {
            method: "PUT",
            key: &key,
            params: &[("partNumber", n), ("uploadId", upload_id.as_str())],
            headers: &[("Content-Type", "application/octet-stream")],
        };
        let resp = alice.send(&call, part.clone()).await;
        assert_eq!(resp.status(), 200);
        etags.push(resp.headers()["etag"].to_str().unwrap().to_owned());
    }
    // A resumed upload lists its parts (`max-parts` is not a signed parameter).
    let list = Call {
        method: "GET",
        key: &key,
        params: &[("uploadId", upload_id.as_str()), ("max-parts", "1000")],
        headers: &[],
    };
    let resp = alice.send(&list, vec![]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap().matches("<Part>").count(), 3);

    // A second upload of the same key is initiated and aborted.
    let doc = alice.send(&initiate(&key), vec![]).await.text().await.unwrap();
    let spare = xml_element(&doc, "UploadId").to_owned();
    let abort = Call {
        method: "DELETE",
        key: &key,
        params: &[("uploadId", spare.as_str())],
        headers: &[],
    };
    assert_eq!(alice.send(&abort, vec![]).await.status(), 204);

    // Refused: another key, another user, a call without the callback to name its upload, a
    // bucket-level listing, a disallowed header, a profile without multipart, an expired
    // credential, a Complete with a changed callback or without forbid-overwrite.
    let foreign = format!("videos/mallory/{}.mp4", c["upload_id"].as_str().unwrap());
    assert_eq!(alice.refused(&initiate(&foreign)).await, "sign_refused");
    let mallory = App {
        app: &app,
        token: app.token_for("mallory"),
        callback: Some(callback.clone()),
    };
    assert_eq!(mallory.refused(&list).await, "sign_refused");
    let anonymous = App {
        app: &app,
        token: alice_token.clone(),
        callback: None,
    };
    assert_eq!(anonymous.refused(&list).await, "callback_required");
    let list_all = Call {
        method: "GET",
        key: "",
        params: &[("uploads", "")],
        headers: &[],
    };
    assert_eq!(alice.refused(&list_all).await, "sign_refused");
    let acl = Call {
        headers: &[
            ("Content-Type", "video/mp4"),
            OVERWRITE,
            ("x-oss-object-acl", "public-read"),
        ],
        ..initiate(&key)
    };
    assert_eq!(alice.refused(&acl).await, "sign_refused");

    let image = app
        .issue(
            &alice_token,
            json!({"profile": "chat-image", "filename": "a.png", "content_type": "image/png", "size": 10}),
        )
        .await;
    let image_app = App {
        app: &app,
        token: alice_token.clone(),
        callback: Some(image["callback"].as_str().unwrap().to_owned()),
    };
    let image_init = Call {
        headers: &[("Content-Type", "image/png"), OVERWRITE],
        ..initiate(image["key"].as_str().unwrap())
    };
    assert_eq!(image_app.refused(&image_init).await, "multipart_not_enabled");

    // A credential issued two hours ago (video credentials live one hour), by the same keys;
    // the callback is only its name here, so its URL does not matter.
    let url = ("APP__CALLBACK__URL", "https://signer.example.com/v1/oss/callback");
    let settings = test_settings(app.db.url(), &[url]);
    let issuer = upload_signer::credentials::Issuer::from_settings(&settings).unwrap();
    let request: upload_signer::credentials::UploadRequest =
        serde_json::from_value(video(whole.len())).unwrap();
    let old = issuer
        .issue(
            "alice",
            &request,
            "0193aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            Utc::now() - Duration::hours(2),
        )
        .unwrap();
    let expired = App {
        app: &app,
        token: alice_token.clone(),
        callback: Some(old.callback.clone()),
    };
    assert_eq!(expired.refused(&initiate(&old.key)).await, "credential_expired");

    let xml: String = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    let xml = format!("<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>");
    let params = [("uploadId", upload_id.as_str())];
    let complete_with = |headers| Call {
        method: "POST",
        key: &key,
        params: &params,
        headers,
    };
    let mut cb: Value = serde_json::from_slice(&STANDARD.decode(&callback).unwrap()).unwrap();
    cb["callbackUrl"] = json!("https://evil.example/steal");
    let swapped = STANDARD.encode(cb.to_string());
    let changed = [
        ("Content-Type", "video/mp4"),
        ("x-oss-callback", swapped.as_str()),
        OVERWRITE,
    ];
    assert_eq!(alice.refused(&complete_with(&changed)).await, "sign_refused");
    let other = small["callback"].as_str().unwrap();
    let others = [
        ("Content-Type", "video/mp4"),
        ("x-oss-callback", other),
        OVERWRITE,
    ];
    assert_eq!(alice.refused(&complete_with(&others)).await, "sign_refused");
    let replacing = [
        ("Content-Type", "video/mp4"),
        ("x-oss-callback", callback.as_str()),
    ];
    assert_eq!(alice.refused(&complete_with(&replacing)).await, "sign_refused");

    // Complete with exactly the issued callback (as the SDK's `ResumableUploadRequest` sends
    // its metadata and callback on Complete): the callback lands and records the upload.
    let issued = [
        ("Content-Type", "video/mp4"),
        ("x-oss-callback", callback.as_str()),
        OVERWRITE,
    ];
    let done = alice.send(&complete_with(&issued), xml.into_bytes()).await;
    assert_eq!(done.status(), 200);
    let answer: Value = done.json().await.unwrap();
    assert_eq!(answer["upload_id"], c["upload_id"], "{answer}");
    let record = app
        .store()
        .get_upload(c["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(record.status, UploadStatus::Completed);
    assert_eq!(record.size, Some(whole.len() as i64));
    assert!(
        record.etag.as_deref().is_some_and(|e| e.ends_with("-3")),
        "{:?}",
        record.etag
    );
}

crate::on_both_stores!(custom_signer_signs_a_whole_resumable_upload);
