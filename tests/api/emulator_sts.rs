//! The mobile SDKs' own paths against the emulator, over real HTTP: STS credentials from
//! `GET /v1/sts/credentials` (minted by the emulator's AssumeRole) confined to the user's prefix
//! by the emulator itself, in every place a token can travel; and a multipart upload with the
//! per-upload STS credentials of `POST /v1/uploads`, completed with the issued callback, which
//! lands on the service and records the upload.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use upload_signer::signing::{self, PresignV1, PresignV4};

use crate::helpers::{
    spawn_app_with, with_sub_resources, xml_element, StoreKind, TestApp, DEV_OSS_KEY_ID, DEV_OSS_SECRET,
};

const BUCKET: &str = "demo-bucket";
const REGION: &str = "cn-hangzhou";

/// The service with its emulator and STS on (the `local` defaults, endpoint following the
/// emulator's random port).
async fn with_emulator_sts(kind: StoreKind, data: &tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    let dir = data.path().display().to_string();
    let mut overrides = vec![
        ("APP__EMULATOR__ENABLED", "true"),
        ("APP__EMULATOR__PORT", "0"),
        ("APP__EMULATOR__DATA_DIR", dir.as_str()),
        ("APP__STS__ENABLED", "true"),
    ];
    overrides.extend_from_slice(extra);
    spawn_app_with(kind, &overrides).await
}

/// An OSS client signing V4 headers, as the SDKs do, with or without an STS token.
struct Oss {
    endpoint: String,
    ak: String,
    secret: String,
    token: Option<String>,
}

impl Oss {
    fn owner(app: &TestApp) -> Oss {
        Oss {
            endpoint: format!("http://127.0.0.1:{}", app.emulator_port.unwrap()),
            ak: DEV_OSS_KEY_ID.into(),
            secret: DEV_OSS_SECRET.into(),
            token: None,
        }
    }

    /// From the SDK-shaped JSON of an STS answer.
    fn sts(app: &TestApp, creds: &Value) -> Oss {
        Oss {
            ak: creds["AccessKeyId"].as_str().unwrap().into(),
            secret: creds["AccessKeySecret"].as_str().unwrap().into(),
            token: Some(creds["SecurityToken"].as_str().unwrap().into()),
            ..Oss::owner(app)
        }
    }

    async fn send(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let added = signing::v4::sign_headers(&signing::HeaderSignV4 {
            access_key_id: &self.ak,
            secret: &self.secret,
            region: REGION,
            method,
            bucket: Some(BUCKET),
            key,
            query,
            headers,
            additional_headers: &[],
            security_token: self.token.as_deref(),
            at: Utc::now(),
        })
        .unwrap();
        let url = with_sub_resources(format!("{}/{BUCKET}/{key}", self.endpoint), query);
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .body(body);
        for (k, v) in headers
            .iter()
            .copied()
            .chain(added.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            req = req.header(k, v);
        }
        req.send().await.expect("request sent")
    }

    async fn put(&self, key: &str, body: &[u8]) -> reqwest::Response {
        self.send("PUT", key, &[], &[("content-type", "image/png")], body.to_vec())
            .await
    }
}

/// Status and OSS error code of an answer.
async fn oss_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

/// A V4 PostObject form signed with STS credentials, the token in its field and its policy.
async fn post_form(oss: &Oss, key: &str, file: &[u8]) -> reqwest::Response {
    let now = Utc::now();
    let token = oss.token.as_deref().unwrap();
    let date = signing::v4::x_oss_date(now);
    let credential = signing::v4::credential(&oss.ak, &signing::v4::date_stamp(now), REGION);
    let policy = json!({
        "expiration": (now + Duration::minutes(10)).format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
        "conditions": [
            {"bucket": BUCKET}, ["eq", "$key", key],
            {"x-oss-signature-version": "OSS4-HMAC-SHA256"}, {"x-oss-credential": credential},
            {"x-oss-date": date}, {"x-oss-security-token": token},
        ],
    });
    let policy = STANDARD.encode(policy.to_string());
    let signature = signing::v4::post_signature(&oss.secret, &policy, now, REGION);
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in [
        ("key", key),
        ("policy", &policy),
        ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ("x-oss-credential", &credential),
        ("x-oss-date", &date),
        ("x-oss-security-token", token),
        ("x-oss-signature", &signature),
    ] {
        form = form.text(k.to_owned(), v.to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(file.to_vec()).file_name("f.png"),
    );
    reqwest::Client::new()
        .post(format!("{}/{BUCKET}", oss.endpoint))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// A V1 presigned PUT carrying the token as the `security-token` sub-resource.
fn presigned_v1(oss: &Oss, key: &str) -> String {
    signing::v1::presign_url(&PresignV1 {
        origin: &format!("{}/{BUCKET}", oss.endpoint),
        access_key_id: &oss.ak,
        secret: &oss.secret,
        method: "PUT",
        bucket: BUCKET,
        key,
        expires_at: Utc::now() + Duration::minutes(5),
        security_token: oss.token.as_deref(),
        ..Default::default()
    })
}

/// A V4 presigned PUT carrying the token as `x-oss-security-token`.
fn presigned_v4(oss: &Oss, key: &str) -> String {
    signing::v4::presign_url(&PresignV4 {
        origin: &format!("{}/{BUCKET}", oss.endpoint),
        access_key_id: &oss.ak,
        secret: &oss.secret,
        region: REGION,
        method: "PUT",
        bucket: BUCKET,
        key,
        at: Utc::now(),
        expires_in: 300,
        security_token: oss.token.as_deref(),
        ..Default::default()
    })
    .unwrap()
}

/// `GET /v1/sts/credentials` works in `local` with no STS settings: the emulator answers
/// AssumeRole, and the inline policy we send is what confines the app: the emulator itself
/// refuses another user's key, whichever way the request is signed and the token carried.
#[tokio::test]
async fn sts_credentials_confine_an_app_to_its_prefix() {
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator_sts(StoreKind::Sqlite, &data, &[]).await;
    let resp = app
        .client
        .get(app.url("/v1/sts/credentials"))
        .bearer_auth(app.token_for("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let creds: Value = resp.json().await.unwrap();
    assert!(
        creds["AccessKeyId"].as_str().unwrap().starts_with("STS."),
        "{creds}"
    );
    assert_eq!(creds["prefix"], "avatars/alice/");
    assert_eq!(
        creds["endpoint"],
        format!("http://127.0.0.1:{}", app.emulator_port.unwrap())
    );
    let alice = Oss::sts(&app, &creds);
    let mine = "avatars/alice/2026/12/a.png";
    let bobs = "avatars/bob/2026/12/a.png";

    // Header-signed V4 with x-oss-security-token.
    assert_eq!(alice.put(mine, b"mine").await.status(), 200);
    assert_eq!(
        oss_code(alice.put(bobs, b"not mine").await).await,
        (403, "AccessDenied".into())
    );
    // The policy grants uploads only: no reading back, no deleting, not even one's own key.
    let get = alice.send("GET", mine, &[], &[], vec![]).await;
    assert_eq!(oss_code(get).await, (403, "AccessDenied".into()));
    let delete = alice.send("DELETE", mine, &[], &[], vec![]).await;
    assert_eq!(oss_code(delete).await, (403, "AccessDenied".into()));
    let list = alice.send("GET", "", &[("uploads", "")], &[], vec![]).await;
    assert_eq!(oss_code(list).await, (403, "AccessDenied".into()));

    // Presigned V1 (`security-token`) and V4 (`x-oss-security-token`).
    let client = reqwest::Client::new();
    for url in [presigned_v1(&alice, mine), presigned_v4(&alice, mine)] {
        assert_eq!(
            client.put(&url).body("again").send().await.unwrap().status(),
            200,
            "{url}"
        );
    }
    for url in [presigned_v1(&alice, bobs), presigned_v4(&alice, bobs)] {
        let resp = client.put(&url).body("x").send().await.unwrap();
        assert_eq!(oss_code(resp).await, (403, "AccessDenied".into()), "{url}");
    }

    // PostObject with the `x-oss-security-token` field.
    assert_eq!(post_form(&alice, mine, b"form").await.status(), 204);
    assert_eq!(
        oss_code(post_form(&alice, bobs, b"form").await).await,
        (403, "AccessDenied".into())
    );

    // A token that is not the emulator's, or none, is refused before any policy.
    let forged = Oss {
        token: Some(format!("{}x", alice.token.as_deref().unwrap())),
        ..Oss::sts(&app, &creds)
    };
    assert_eq!(
        oss_code(forged.put(mine, b"x").await).await,
        (403, "InvalidAccessKeyId".into())
    );
    let tokenless = Oss {
        token: None,
        ..Oss::sts(&app, &creds)
    };
    assert_eq!(
        oss_code(tokenless.put(mine, b"x").await).await,
        (403, "InvalidAccessKeyId".into())
    );

    // Nothing of bob's was written; alice's key holds her last upload.
    let owner = Oss::owner(&app);
    assert_eq!(owner.send("GET", bobs, &[], &[], vec![]).await.status(), 404);
    let resp = owner.send("GET", mine, &[], &[], vec![]).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"form");
}

fn crc64(bytes: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(bytes)
}

/// A resumable upload as the mobile SDKs make it with the `sts` part of `POST /v1/uploads`:
/// initiate, parts, list, complete with the issued callback headers. The object is assembled on
/// the emulator's disk, the callback lands on the service, and the record has the right size.
async fn multipart_upload_with_sts_records_the_upload(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator_sts(kind, &data, &[("APP__PROFILES__VIDEO__STS", "true")]).await;
    let first: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
    let last = b"the last part may be small".to_vec();
    let whole = [first.clone(), last.clone()].concat();
    let token = app.token_for("alice");
    let c = app
        .issue(
            &token,
            json!({"profile": "video", "filename": "clip.mp4", "content_type": "video/mp4", "size": whole.len()}),
        )
        .await;
    let key = c["key"].as_str().unwrap();
    let oss = Oss::sts(&app, &c["sts"]);

    let init = oss
        .send(
            "POST",
            key,
            &[("uploads", "")],
            &[("content-type", "video/mp4")],
            vec![],
        )
        .await;
    assert_eq!(init.status(), 200);
    let doc = init.text().await.unwrap();
    let upload_id = xml_element(&doc, "UploadId").to_owned();
    assert_eq!(xml_element(&doc, "Key"), key);
    // The per-upload credentials cover that one key only.
    let elsewhere = format!("{key}.other");
    let other = oss
        .send("POST", &elsewhere, &[("uploads", "")], &[], vec![])
        .await;
    assert_eq!(oss_code(other).await, (403, "AccessDenied".into()));

    let mut etags = Vec::new();
    for (n, part) in [("1", &first), ("2", &last)] {
        let resp = oss
            .send(
                "PUT",
                key,
                &[("partNumber", n), ("uploadId", &upload_id)],
                &[],
                part.to_vec(),
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["x-oss-hash-crc64ecma"],
            crc64(part).to_string().as_str()
        );
        etags.push(resp.headers()["etag"].to_str().unwrap().to_owned());
    }
    let listed = oss
        .send("GET", key, &[("uploadId", &upload_id)], &[], vec![])
        .await;
    assert_eq!(listed.status(), 200);
    let doc = listed.text().await.unwrap();
    assert_eq!(doc.matches("<Part>").count(), 2, "{doc}");
    assert!(doc.contains(&format!("<Size>{}</Size>", first.len())), "{doc}");
    // oss2 parses exactly `YYYY-MM-DDTHH:MM:SS.000Z`.
    let modified = xml_element(&doc, "LastModified");
    assert!(modified.len() == 24 && modified.ends_with(".000Z"), "{modified}");

    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let mut headers = vec![("x-oss-callback", c["callback"].as_str().unwrap())];
    if let Some(var) = c["callback_var"].as_str() {
        headers.push(("x-oss-callback-var", var));
    }
    let done = oss
        .send(
            "POST",
            key,
            &[("uploadId", &upload_id)],
            &headers,
            xml.into_bytes(),
        )
        .await;
    assert_eq!(done.status(), 200);
    let etag = done.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.ends_with("-2\""), "{etag}");
    // The body is the service's answer to the callback, relayed.
    let answer: Value = done.json().await.unwrap();
    assert_eq!(answer["upload_id"], c["upload_id"], "{answer}");

    let record = app
        .store()
        .get_upload(c["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(record.size, Some(whole.len() as i64));

    let owner = Oss::owner(&app);
    let object = owner.send("GET", key, &[], &[], vec![]).await;
    assert_eq!(object.headers()["x-oss-object-type"], "Multipart");
    assert_eq!(
        object.headers()["x-oss-hash-crc64ecma"],
        crc64(&whole).to_string().as_str()
    );
    assert_eq!(object.headers()["content-type"], "video/mp4");
    assert_eq!(object.bytes().await.unwrap().as_ref(), whole.as_slice());
    // The upload id is spent.
    let again = oss
        .send("GET", key, &[("uploadId", &upload_id)], &[], vec![])
        .await;
    assert_eq!(oss_code(again).await, (404, "NoSuchUpload".into()));
}

crate::on_both_stores!(multipart_upload_with_sts_records_the_upload);

/// Abort and ListMultipartUploads, and the part rules at Complete.
#[tokio::test]
async fn multipart_uploads_are_listed_aborted_and_checked() {
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator_sts(StoreKind::Sqlite, &data, &[]).await;
    let owner = Oss::owner(&app);
    let mut ids = Vec::new();
    for key in ["a/1.bin", "a/2.bin", "b/1.bin"] {
        let doc = owner
            .send("POST", key, &[("uploads", "")], &[], vec![])
            .await
            .text()
            .await
            .unwrap();
        ids.push(xml_element(&doc, "UploadId").to_owned());
    }
    let list = owner
        .send("GET", "", &[("uploads", ""), ("prefix", "a/")], &[], vec![])
        .await;
    assert_eq!(list.status(), 200);
    let doc = list.text().await.unwrap();
    assert_eq!(doc.matches("<Upload>").count(), 2, "{doc}");
    let rolled = owner
        .send("GET", "", &[("uploads", ""), ("delimiter", "/")], &[], vec![])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rolled.matches("<CommonPrefixes>").count(), 2, "{rolled}");

    // Two small parts: the first is under 100 KB, so Complete refuses.
    for n in ["1", "2"] {
        let resp = owner
            .send(
                "PUT",
                "a/1.bin",
                &[("partNumber", n), ("uploadId", &ids[0])],
                &[],
                b"tiny".to_vec(),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let xml = "<CompleteMultipartUpload>\
        <Part><PartNumber>1</PartNumber><ETag>\"B81E98A1ED1CF6E9D6F9C1A1F3E8A4B6\"</ETag></Part>\
        </CompleteMultipartUpload>";
    let wrong = owner
        .send("POST", "a/1.bin", &[("uploadId", &ids[0])], &[], xml.into())
        .await;
    assert_eq!(oss_code(wrong).await, (400, "InvalidPart".into()));
    let all = owner
        .send(
            "POST",
            "a/1.bin",
            &[("uploadId", &ids[0])],
            &[("x-oss-complete-all", "yes")],
            vec![],
        )
        .await;
    assert_eq!(oss_code(all).await, (400, "EntityTooSmall".into()));
    let part = owner
        .send(
            "PUT",
            "a/1.bin",
            &[("partNumber", "10001"), ("uploadId", &ids[0])],
            &[],
            vec![],
        )
        .await;
    assert_eq!(oss_code(part).await, (400, "InvalidArgument".into()));

    let abort = owner
        .send("DELETE", "a/1.bin", &[("uploadId", &ids[0])], &[], vec![])
        .await;
    assert_eq!(abort.status(), 204);
    let gone = owner
        .send("DELETE", "a/1.bin", &[("uploadId", &ids[0])], &[], vec![])
        .await;
    assert_eq!(oss_code(gone).await, (404, "NoSuchUpload".into()));
    // Another key's upload id is not this key's.
    let foreign = owner
        .send("GET", "a/1.bin", &[("uploadId", &ids[1])], &[], vec![])
        .await;
    assert_eq!(oss_code(foreign).await, (404, "NoSuchUpload".into()));
}

/// oss2's `resumable_upload` sends no callback on Complete: the app confirms, and the service's
/// HEAD (size and type) of the multipart object records it like the callback would.
#[tokio::test]
async fn a_multipart_upload_without_callback_is_recorded_on_confirmation() {
    let data = tempfile::tempdir().unwrap();
    let app = with_emulator_sts(StoreKind::Sqlite, &data, &[("APP__PROFILES__VIDEO__STS", "true")]).await;
    let parts: [Vec<u8>; 3] = [vec![1u8; 100 * 1024], vec![2u8; 100 * 1024], b"end".to_vec()];
    let size: usize = parts.iter().map(Vec::len).sum();
    let token = app.token_for("alice");
    let c = app
        .issue(
            &token,
            json!({"profile": "video", "filename": "clip.mp4", "content_type": "video/mp4", "size": size}),
        )
        .await;
    let key = c["key"].as_str().unwrap();
    let oss = Oss::sts(&app, &c["sts"]);
    let doc = oss
        .send(
            "POST",
            key,
            &[("uploads", "")],
            &[("content-type", "video/mp4")],
            vec![],
        )
        .await
        .text()
        .await
        .unwrap();
    let upload_id = xml_element(&doc, "UploadId").to_owned();
    for (n, part) in ["1", "2", "3"].iter().zip(&parts) {
        let resp = oss
            .send(
                "PUT",
                key,
                &[("partNumber", n), ("uploadId", &upload_id)],
                &[],
                part.clone(),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let done = oss
        .send(
            "POST",
            key,
            &[("uploadId", &upload_id)],
            &[("x-oss-complete-all", "yes")],
            vec![],
        )
        .await;
    assert_eq!(done.status(), 200);
    let doc = done.text().await.unwrap();
    assert!(xml_element(&doc, "ETag").ends_with("-3&quot;"), "{doc}");

    let upload_id = c["upload_id"].as_str().unwrap();
    let confirm = app
        .post_json(
            &format!("/v1/uploads/{upload_id}/complete"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(confirm.status(), 200);
    let answer: Value = confirm.json().await.unwrap();
    assert_eq!(answer["status"], "completed", "{answer}");
    let record = app.store().get_upload(upload_id).await.unwrap();
    assert_eq!(record.size, Some(size as i64));
    assert!(
        record.etag.as_deref().is_some_and(|e| e.ends_with("-3")),
        "{:?}",
        record.etag
    );
}
