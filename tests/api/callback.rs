//! `POST /v1/oss/callback`: the whole flow over real HTTP with a stand-in for OSS.

use serde_json::{json, Value};
use upload_signer::signing::CallbackBodyType;
use upload_signer::store::{UploadSource, UploadStatus};

use crate::helpers::{error_code, spawn_app_with, StoreKind, TestApp};
use crate::on_both_stores;
use crate::oss_stand_in::{any_path_key_host, ObjectFacts, OssStandIn};

on_both_stores!(
    json_callback_is_verified_recorded_once_and_answered,
    form_callback_of_a_v1_profile_is_recorded,
    forged_or_foreign_callbacks_are_refused,
    public_key_is_fetched_once_and_cached,
    concurrent_and_repeated_callbacks_are_each_recorded_once,
    nul_characters_in_a_callback_do_not_lose_the_upload,
    an_overwritten_object_is_a_new_version_checked_like_the_first,
    forged_callbacks_at_a_slow_key_host_do_not_delay_genuine_ones,
);

async fn app_with_stand_in(kind: StoreKind) -> (TestApp, OssStandIn) {
    let oss = OssStandIn::start().await;
    let overrides = oss.overrides();
    let refs: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (spawn_app_with(kind, &refs).await, oss)
}

async fn json_callback_is_verified_recorded_once_and_answered(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("alice");
    let credential = app
        .issue(
            &token,
            json!({"profile": "chat-image", "filename": "cat.jpg", "content_type": "image/jpeg", "size": 4096,
                   "vars": {"caption": "a cat, \"quoted\" & all", "conversation_id": "c-1"}}),
        )
        .await;
    let upload_id = credential["upload_id"].as_str().unwrap();
    let key = credential["key"].as_str().unwrap();
    let callback = oss.callback_for(&credential, &ObjectFacts::default());

    let first = callback.send(&app).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "application/json");
    let first_len: usize = first.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let first_body = first.text().await.unwrap();
    assert_eq!(first_len, first_body.len());
    let answer: Value = serde_json::from_str(&first_body).unwrap();
    assert_eq!(answer["upload_id"], upload_id);
    assert_eq!(answer["key"], key);
    assert_eq!(answer["size"], 2048);
    assert_eq!(answer["status"], "completed");
    assert_eq!(
        answer["url"],
        format!("https://demo-bucket.oss-cn-hangzhou.aliyuncs.com/{key}")
    );

    // OSS does not retry, but an SDK may replay: same answer, no second record.
    let second = callback.send(&app).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.text().await.unwrap(), first_body);

    let store = app.store();
    assert_eq!(store.count_uploads().await.unwrap(), 1);
    let record = store.get_upload(upload_id).await.unwrap();
    assert_eq!(record.user_id, "alice");
    assert_eq!(record.profile, "chat-image");
    assert_eq!(record.bucket, "demo-bucket");
    assert_eq!(record.key, key);
    assert_eq!(record.status, UploadStatus::Completed);
    assert_eq!(record.source, Some(UploadSource::Callback));
    assert_eq!(record.size, Some(2048));
    assert_eq!(record.etag.as_deref(), Some("D41D8CD98F00B204E9800998ECF8427E"));
    assert_eq!(record.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!((record.image_width, record.image_height), (Some(640), Some(480)));
    assert_eq!(record.image_format.as_deref(), Some("jpg"));
    assert_eq!(record.vars["caption"], "a cat, \"quoted\" & all");
    assert_eq!(record.vars["conversation_id"], "c-1");
    assert_eq!(record.client_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(record.oss_request_id.as_deref(), Some("5F1D7E2A0000000000000001"));
    assert!(record.completed_at.is_some() && record.issued_at < record.expires_at);
}

/// Many callbacks at once, each also repeated: concurrent writes are grouped into shared
/// statements on Postgres, and a repeat of an upload may land in the same group as its first.
async fn concurrent_and_repeated_callbacks_are_each_recorded_once(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("carol");
    let mut callbacks = Vec::new();
    for i in 0..24 {
        let credential = app
            .issue(
                &token,
                json!({"profile": "chat-image", "filename": "cat.jpg", "content_type": "image/jpeg",
                       "size": 4096, "vars": {"caption": format!("photo {i}")}}),
            )
            .await;
        let upload_id = credential["upload_id"].as_str().unwrap().to_string();
        callbacks.push((upload_id, oss.callback_for(&credential, &ObjectFacts::default())));
    }
    let app = &app;
    let sends = callbacks
        .iter()
        .flat_map(|(id, callback)| (0..3).map(move |_| (id, callback)))
        .map(|(id, callback)| async move {
            let response = callback.send(app).await;
            assert_eq!(response.status(), 200);
            (id.clone(), response.text().await.unwrap())
        });
    let answers = futures_util::future::join_all(sends).await;

    let store = app.store();
    assert_eq!(store.count_uploads().await.unwrap(), 24);
    for (i, (upload_id, _)) in callbacks.iter().enumerate() {
        let same: Vec<&String> = answers
            .iter()
            .filter(|(id, _)| id == upload_id)
            .map(|(_, a)| a)
            .collect();
        assert_eq!(same.len(), 3);
        assert!(same.iter().all(|a| *a == same[0]), "repeats answered alike");
        let answer: Value = serde_json::from_str(same[0]).unwrap();
        assert_eq!(answer["upload_id"], upload_id.as_str());
        let record = store.get_upload(upload_id).await.unwrap();
        assert_eq!(record.status, UploadStatus::Completed);
        assert_eq!(record.vars["caption"], format!("photo {i}"));
    }
}

/// Postgres text cannot hold U+0000; a callback carrying one is still recorded (without it).
async fn nul_characters_in_a_callback_do_not_lose_the_upload(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("dave");
    let credential = app
        .issue(
            &token,
            json!({"profile": "chat-image", "filename": "cat.jpg", "content_type": "image/jpeg", "size": 4096}),
        )
        .await;
    let facts = ObjectFacts {
        etag: "D41D8CD98F00B204\0E9800998ECF8427E",
        mime_type: "image/jp\0eg",
        ..ObjectFacts::default()
    };
    let response = oss.callback_for(&credential, &facts).send(&app).await;
    assert_eq!(response.status(), 200);
    let record = app
        .store()
        .get_upload(credential["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(record.status, UploadStatus::Completed);
    assert_eq!(record.etag.as_deref(), Some("D41D8CD98F00B204E9800998ECF8427E"));
    assert_eq!(record.mime_type.as_deref(), Some("image/jpeg"));
}

async fn form_callback_of_a_v1_profile_is_recorded(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("bob");
    let credential = app
        .issue(
            &token,
            json!({"profile": "video", "filename": "clip.MP4", "content_type": "video/mp4", "size": 9000}),
        )
        .await;
    let facts = ObjectFacts {
        size: 8999,
        mime_type: "video/mp4",
        height: "",
        width: "",
        format: "",
        ..ObjectFacts::default()
    };
    let callback = oss.callback_for(&credential, &facts);
    assert_eq!(callback.content_type, "application/x-www-form-urlencoded");
    let resp = callback.send(&app).await;
    assert_eq!(resp.status(), 200);
    let record = app
        .store()
        .get_upload(credential["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(record.size, Some(8999));
    assert_eq!(record.mime_type.as_deref(), Some("video/mp4"));
    assert_eq!((record.image_width, record.image_format.as_deref()), (None, None));
}

async fn forged_or_foreign_callbacks_are_refused(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("alice");
    let credential = app
        .issue(
            &token,
            json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": 10}),
        )
        .await;
    let good = oss.callback_for(&credential, &ObjectFacts::default());

    // Tampered body: the signature no longer matches.
    let mut tampered = oss.callback_for(&credential, &ObjectFacts::default());
    tampered.body = tampered.body.replace("2048", "1");
    let resp = tampered.send(&app).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "invalid_signature");

    // A key URL outside the allow-list is refused without being fetched.
    let mut foreign_key = oss.callback_for(&credential, &ObjectFacts::default());
    use base64::Engine;
    foreign_key.key_url_header =
        base64::engine::general_purpose::STANDARD.encode("http://169.254.169.254/latest/key.pem");
    let resp = foreign_key.send(&app).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "key_url_not_allowed");

    // Missing headers.
    let resp = app
        .client
        .post(app.url(&good.path))
        .body(good.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "missing_signature");

    // Validly signed by "OSS", but for somebody else's bucket or key: anybody can make OSS
    // sign a callback to our URL.
    let other_bucket = good
        .body
        .replace("\"bucket\":\"demo-bucket\"", "\"bucket\":\"evil-bucket\"");
    let other_key = good
        .body
        .replace(credential["key"].as_str().unwrap(), "avatars/alice/other.png");
    for (body, code) in [(other_bucket, "upload_mismatch"), (other_key, "upload_mismatch")] {
        let resp = oss
            .sign(&good.path, CallbackBodyType::Json, body)
            .send(&app)
            .await;
        assert_eq!(resp.status(), 403);
        assert_eq!(error_code(resp).await, code);
    }

    // A token we never signed, and no token at all.
    let forged = json!({"bucket": "demo-bucket", "object": credential["key"], "size": 1,
                        "token": "v1.t1.eyJ1cGxvYWRfaWQiOiJ4In0.AAAA"});
    let resp = oss
        .sign(&good.path, CallbackBodyType::Json, forged.to_string())
        .send(&app)
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "unknown_upload_token");
    let tokenless = json!({"bucket": "demo-bucket", "object": credential["key"], "size": 1});
    let resp = oss
        .sign(&good.path, CallbackBodyType::Json, tokenless.to_string())
        .send(&app)
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "missing_upload_token");

    // Oversized bodies are cut off before anything is parsed.
    let huge = oss.sign(&good.path, CallbackBodyType::Json, "x".repeat(20_000));
    let resp = huge.send(&app).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(error_code(resp).await, "payload_too_large");

    let upload_id = credential["upload_id"].as_str().unwrap();
    let ledger = app.store().get_upload(upload_id).await;
    assert!(
        ledger
            .as_ref()
            .map_or(true, |r| r.status == UploadStatus::Pending),
        "nothing completed: {ledger:?}"
    );
    assert_eq!(
        good.send(&app).await.status(),
        200,
        "the genuine one still passes"
    );
}

async fn public_key_is_fetched_once_and_cached(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("erin");
    for _ in 0..5 {
        let credential = app
            .issue(
                &token,
                json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": 10}),
            )
            .await;
        let resp = oss
            .callback_for(&credential, &ObjectFacts::default())
            .send(&app)
            .await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(oss.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(app.store().count_uploads().await.unwrap(), 5);
}

/// Real callbacks captured from OSS, verified with OSS's real 512-bit key (pinned by config):
/// the genuine one passes verification (and is then refused only for carrying no token of
/// ours); the altered one fails verification.
#[tokio::test]
async fn real_oss_callbacks_verify_with_the_pinned_oss_key() {
    let vectors: Value = serde_json::from_str(include_str!("../vectors/oss-callbacks-real.json")).unwrap();
    let pem_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pem_file.path(), vectors["public_key_pem"].as_str().unwrap()).unwrap();
    let path = "/api/v3/callback/oss/TnXx5E5VyfJUyM1UdkdDu1rtnJ34EbmH";
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("APP__CALLBACK__PATH", path),
            (
                "APP__CALLBACK__PUBLIC_KEY_PEM_FILE",
                pem_file.path().to_str().unwrap(),
            ),
        ],
    )
    .await;
    for case in vectors["callbacks"].as_array().unwrap() {
        if case["path_and_query"] != path {
            continue;
        }
        let resp = app
            .client
            .post(app.url(path))
            .header("content-type", case["content_type"].as_str().unwrap())
            .header("authorization", case["authorization"].as_str().unwrap())
            .header(
                "x-oss-pub-key-url",
                vectors["public_key_url_header"].as_str().unwrap(),
            )
            .body(case["body"].as_str().unwrap().to_string())
            .send()
            .await
            .unwrap();
        let expected = if case["verifies"].as_bool().unwrap() {
            (400, "missing_upload_token")
        } else {
            (403, "invalid_signature")
        };
        assert_eq!(resp.status(), expected.0);
        assert_eq!(error_code(resp).await, expected.1);
    }
}

/// With STS credentials the app sets its own headers and can overwrite its object: OSS then
/// calls back again for the same upload with another ETag and size. That is a new version, not
/// a repeat: it passes the profile's checks like the first (an 8 MiB object under a 5 MiB avatar
/// profile is rejected), the record describes the object now in the bucket, and the first stays
/// in the record's history.
async fn an_overwritten_object_is_a_new_version_checked_like_the_first(kind: StoreKind) {
    let (app, oss) = app_with_stand_in(kind).await;
    let token = app.token_for("alice");
    let credential = app
        .issue(
            &token,
            json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 4096}),
        )
        .await;
    let upload_id = credential["upload_id"].as_str().unwrap();
    let first = oss
        .callback_for(&credential, &ObjectFacts::default())
        .send(&app)
        .await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "completed");

    let bigger = ObjectFacts {
        size: 8 * 1024 * 1024,
        etag: "0CC175B9C0F1B6A831C399E269772661",
        ..ObjectFacts::default()
    };
    let second = oss.callback_for(&credential, &bigger).send(&app).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["status"], "rejected", "{second}");
    assert_eq!(second["size"], 8 * 1024 * 1024);
    assert!(second["reason"]
        .as_str()
        .unwrap()
        .contains("over the profile's limit"));
    // The same new version again is a repeat of it, not a third version.
    let again = oss.callback_for(&credential, &bigger).send(&app).await;
    assert_eq!(again.json::<Value>().await.unwrap(), second);

    let key = app.api_key("uploads:read").await;
    let got: Value = app
        .client
        .get(app.url(&format!("/v1/records/uploads/{upload_id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "rejected");
    assert_eq!(got["etag"], bigger.etag);
    let versions = got["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{got}");
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["status"], "completed");
    assert_eq!(versions[0]["size"], 2048);
    assert_eq!(versions[0]["etag"], ObjectFacts::default().etag);
}

/// The genuine key URL is listed exactly; a prefix also admits a slow host that forged callbacks
/// name. Forged key URLs cost at most `max_key_fetches` fetches at once and one per URL per
/// failure interval; nothing they do delays a genuine callback or evicts its key.
async fn forged_callbacks_at_a_slow_key_host_do_not_delay_genuine_ones(kind: StoreKind) {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let oss = OssStandIn::start().await;
    let (slow_prefix, slow_fetches) = any_path_key_host(Duration::from_secs(3)).await;
    let (fast_prefix, fast_fetches) = any_path_key_host(Duration::ZERO).await;
    let prefixes = format!("{slow_prefix},{fast_prefix}");
    let app = spawn_app_with(
        kind,
        &[
            ("APP__CALLBACK__ALLOWED_KEY_URLS", oss.key_url.as_str()),
            ("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", prefixes.as_str()),
            ("APP__CALLBACK__KEY_FETCH_TIMEOUT_SECS", "1"),
            ("APP__CALLBACK__MAX_KEY_FETCHES", "4"),
            ("APP__ISSUANCE__RATE_PER_MINUTE", "0"),
        ],
    )
    .await;
    let token = app.token_for("flood");
    let mut genuine = Vec::new();
    for _ in 0..100 {
        let credential = app
            .issue(
                &token,
                json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": 10}),
            )
            .await;
        genuine.push(oss.callback_for(&credential, &ObjectFacts::default()));
    }
    use base64::Engine;
    let b64 = |url: String| base64::engine::general_purpose::STANDARD.encode(url);
    let forge = |key_url_header: String| {
        let (client, url) = (app.client.clone(), app.url(&genuine[0].path));
        let body = genuine[0].body.clone();
        async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .header("authorization", "AAAA")
                .header("x-oss-pub-key-url", key_url_header)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // 100 forged callbacks over 20 URLs of the slow host, all in flight while genuine ones arrive.
    let flood: Vec<_> = (0..100)
        .map(|i| tokio::spawn(forge(b64(format!("{slow_prefix}k{}.pem", i % 20)))))
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut took = Vec::new();
    for callback in &genuine {
        let started = Instant::now();
        let resp = callback.send(&app).await;
        took.push(started.elapsed());
        assert_eq!(resp.status(), 200);
    }
    for forged in flood {
        assert_eq!(forged.await.unwrap(), 502);
    }
    took.sort();
    let p99 = took[98];
    println!(
        "genuine callbacks under the flood: p50 {:?}, p99 {p99:?}, max {:?}",
        took[49], took[99]
    );
    // Alone on an idle machine the p99 is a few ms; the bound leaves room for a busy CI machine
    // (53 ms was seen there with a build beside it) and still fails by far on what it guards
    // against: a genuine callback waiting behind the 3 s key host.
    assert!(p99 < Duration::from_millis(200), "genuine p99 {p99:?}");
    assert!(slow_fetches.load(Ordering::SeqCst) <= 20, "one fetch per URL");
    // A failed URL is remembered: asking again fetches nothing.
    let again = format!("{slow_prefix}again.pem");
    assert_eq!(forge(b64(again.clone())).await, 502);
    let before = slow_fetches.load(Ordering::SeqCst);
    assert_eq!(forge(b64(again)).await, 502);
    assert_eq!(slow_fetches.load(Ordering::SeqCst), before);

    // Unsigned callbacks naming 200 working key URLs (variants that each get cached) do not
    // evict the key genuine callbacks proved: it is never fetched again.
    for i in 0..200 {
        assert_eq!(forge(b64(format!("{fast_prefix}v{i}.pem"))).await, 403);
    }
    assert_eq!(fast_fetches.load(Ordering::SeqCst), 200);
    let credential = app
        .issue(
            &token,
            json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": 10}),
        )
        .await;
    let resp = oss
        .callback_for(&credential, &ObjectFacts::default())
        .send(&app)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(oss.fetches.load(Ordering::SeqCst), 1);

    // Non-canonical spellings are refused before any fetch.
    for url in [
        format!("{}?v=2", oss.key_url),
        format!("{fast_prefix}a/../b.pem"),
        format!("{fast_prefix}%2e%2e/b.pem"),
        oss.key_url.replace("http://", "http://user@"),
    ] {
        assert_eq!(forge(b64(url.clone())).await, 403, "{url}");
    }
    assert_eq!(fast_fetches.load(Ordering::SeqCst), 200);
}
