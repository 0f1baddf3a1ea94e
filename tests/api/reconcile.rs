//! Never losing an upload: the ledger, client confirmation, the reconciler and post-upload
//! checks, against the built-in OSS emulator over real HTTP.

use std::time::Duration;

use serde_json::{json, Value};
use upload_signer::store::{UploadSource, UploadStatus};

use crate::helpers::{error_code, spawn_app_with, spawn_instance_beside, StoreKind, TestApp};
use crate::on_both_stores;

on_both_stores!(
    a_callback_and_confirmations_racing_give_one_record,
    issued_credentials_enter_the_ledger_as_pending,
    an_app_confirms_an_upload_whose_callback_failed,
    the_reconciler_settles_expired_uploads,
    a_callback_for_an_oversized_put_is_rejected,
    concurrent_reconcilers_never_share_an_upload,
);

/// The service with the emulator; OSS's callbacks go to `callback_url`.
async fn app(kind: StoreKind, data: &tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    let dir = data.path().display().to_string();
    let mut overrides = vec![
        ("APP__EMULATOR__ENABLED", "true"),
        ("APP__EMULATOR__PORT", "0"),
        ("APP__EMULATOR__DATA_DIR", dir.as_str()),
    ];
    overrides.extend_from_slice(extra);
    spawn_app_with(kind, &overrides).await
}

/// Nothing listens on port 1: OSS's callback fails and the app gets 203 CallbackFailed.
const DEAD_CALLBACK: (&str, &str) = ("APP__CALLBACK__URL", "http://127.0.0.1:1/v1/oss/callback");

async fn issue(app: &TestApp, user: &str, size: usize) -> Value {
    app.issue(
        &app.token_for(user),
        json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": size}),
    )
    .await
}

/// Uploads with the credential's presigned PUT URL.
async fn put(app: &TestApp, credential: &Value, body: Vec<u8>) -> reqwest::Response {
    app.put_object(credential, body).await
}

async fn status_of(app: &TestApp, upload_id: &str) -> Option<UploadStatus> {
    app.store().get_upload(upload_id).await.ok().map(|r| r.status)
}

/// Waits up to 20 s: a pass a second settles it in one or two, but a loaded CI machine can
/// stretch that (5 s was seen to be too short under parallel load).
async fn eventually(app: &TestApp, upload_id: &str, want: UploadStatus) {
    for _ in 0..400 {
        if status_of(app, upload_id).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{upload_id} never became {want:?}: {:?}",
        status_of(app, upload_id).await
    );
}

async fn complete(app: &TestApp, user: &str, upload_id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/uploads/{upload_id}/complete")))
        .bearer_auth(app.token_for(user))
        .send()
        .await
        .unwrap()
}

async fn issued_credentials_enter_the_ledger_as_pending(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = app(kind, &data, &[]).await;
    let c = issue(&app, "alice", 10).await;
    let id = c["upload_id"].as_str().unwrap();
    eventually(&app, id, UploadStatus::Pending).await;
    let record = app.store().get_upload(id).await.unwrap();
    assert_eq!(
        (record.user_id.as_str(), record.key.as_str()),
        ("alice", c["key"].as_str().unwrap())
    );
    // The owner sees it; nobody else does.
    let mine = app
        .client
        .get(app.url(&format!("/v1/me/uploads/{id}")))
        .bearer_auth(app.token_for("alice"))
        .send()
        .await
        .unwrap();
    let mine: Value = mine.json().await.unwrap();
    assert_eq!(mine["status"], "pending");
}

async fn an_app_confirms_an_upload_whose_callback_failed(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = app(kind, &data, &[DEAD_CALLBACK]).await;
    let file = b"\x89PNG\r\n\x1a\n not really an image".to_vec();
    let c = issue(&app, "alice", file.len()).await;
    let id = c["upload_id"].as_str().unwrap();
    eventually(&app, id, UploadStatus::Pending).await;

    // Nothing uploaded yet: the bucket says so.
    let early = complete(&app, "alice", id).await;
    assert_eq!(early.status(), 409);
    assert_eq!(error_code(early).await, "object_not_found");

    let uploaded = put(&app, &c, file.clone()).await;
    assert_eq!(
        uploaded.status(),
        203,
        "OSS keeps the object but reports CallbackFailed"
    );

    // Another user cannot confirm (or learn about) alice's upload.
    let other = complete(&app, "mallory", id).await;
    assert_eq!(other.status(), 404);

    let first = complete(&app, "alice", id).await;
    assert_eq!(first.status(), 200);
    let body = first.text().await.unwrap();
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["upload_id"], id);
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["size"], file.len());
    let again = complete(&app, "alice", id).await;
    assert_eq!(again.text().await.unwrap(), body, "idempotent: the same answer");

    let record = app.store().get_upload(id).await.unwrap();
    assert_eq!(record.source, Some(UploadSource::Client));
    assert_eq!(record.mime_type.as_deref(), Some("image/png"));
    assert_eq!(record.size, Some(file.len() as i64));
}

async fn the_reconciler_settles_expired_uploads(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    // Uploads happen on an instance without a reconciler: with the negative grace below, a pass
    // between issuing and uploading would rightly call the upload abandoned (seen on a loaded CI).
    let app = app(
        kind,
        &data,
        &[DEAD_CALLBACK, ("APP__RECONCILE__ENABLED", "false")],
    )
    .await;
    let small = b"\x89PNG\r\n\x1a\n small".to_vec();
    let uploaded = issue(&app, "alice", small.len()).await;
    let never = issue(&app, "alice", 10).await;
    // A presigned PUT cannot enforce the size: this one breaks the profile's 5 MiB limit.
    let oversized = issue(&app, "alice", 10).await;
    assert_eq!(put(&app, &uploaded, small.clone()).await.status(), 203);
    assert_eq!(
        put(&app, &oversized, vec![7u8; 5 * 1024 * 1024 + 1])
            .await
            .status(),
        203
    );

    // A second instance on the same database and bucket, where every credential counts as
    // expired at once and a pass runs every second.
    let dir = data.path().display().to_string();
    let _reconciler = spawn_instance_beside(
        &app,
        &[
            ("APP__EMULATOR__ENABLED", "true"),
            ("APP__EMULATOR__PORT", "0"),
            ("APP__EMULATOR__DATA_DIR", dir.as_str()),
            DEAD_CALLBACK,
            ("APP__RECONCILE__GRACE_SECS", "-86400"),
            ("APP__RECONCILE__INTERVAL_SECS", "1"),
            ("APP__RECONCILE__DELETE_REJECTED", "true"),
        ],
    )
    .await;

    let id = |c: &Value| c["upload_id"].as_str().unwrap().to_string();
    eventually(&app, &id(&uploaded), UploadStatus::Completed).await;
    eventually(&app, &id(&never), UploadStatus::Abandoned).await;
    eventually(&app, &id(&oversized), UploadStatus::Rejected).await;

    let store = app.store();
    let completed = store.get_upload(&id(&uploaded)).await.unwrap();
    assert_eq!(completed.source, Some(UploadSource::Reconciler));
    assert_eq!(completed.size, Some(small.len() as i64));
    let rejected = store.get_upload(&id(&oversized)).await.unwrap();
    assert!(rejected.reason.unwrap().contains("over the profile's limit"));
    // Backend teams see every status and source through the records API.
    let key = app.api_key("uploads:read").await;
    let get = |path: String| {
        let req = app.client.get(app.url(&path)).bearer_auth(&key);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["upload_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&get("/v1/records/uploads?status=abandoned".into()).await),
        [id(&never)]
    );
    assert_eq!(
        ids(&get("/v1/records/uploads?status=rejected".into()).await),
        [id(&oversized)]
    );
    assert_eq!(
        ids(&get("/v1/records/uploads?source=reconciler".into()).await),
        [id(&uploaded)]
    );
    let stats = get("/v1/records/stats?group_by=status".into()).await;
    assert_eq!(
        stats["groups"],
        json!([
            {"group": "abandoned", "count": 1, "bytes": 0},
            {"group": "completed", "count": 1, "bytes": small.len()},
            {"group": "rejected", "count": 1, "bytes": 5 * 1024 * 1024 + 1},
        ])
    );

    // The rejected object was deleted from the bucket; the good one is still there.
    let emulator = format!("http://127.0.0.1:{}", app.emulator_port.unwrap());
    let settings = crate::helpers::test_settings(
        app.db.url(),
        &[
            ("APP__PROFILES__AVATAR__ENDPOINT", emulator.as_str()),
            ("APP__PROFILES__AVATAR__PATH_STYLE", "true"),
        ],
    );
    let oss = upload_signer::clients::OssClient::from_settings(&settings).unwrap();
    let profiles = upload_signer::profiles::Profiles::from_settings(&settings).unwrap();
    let profile = profiles.get("avatar").unwrap();
    assert!(oss
        .head(profile, oversized["key"].as_str().unwrap())
        .await
        .unwrap()
        .is_none());
    let kept = oss
        .head(profile, uploaded["key"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.size, small.len() as i64);
}

async fn a_callback_for_an_oversized_put_is_rejected(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = app(kind, &data, &[]).await;
    let c = issue(&app, "alice", 10).await;
    let resp = put(&app, &c, vec![1u8; 5 * 1024 * 1024 + 1]).await;
    assert_eq!(resp.status(), 200, "our callback answered");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["status"], "rejected");
    assert!(answer["reason"].as_str().unwrap().contains("limit"));
    eventually(&app, c["upload_id"].as_str().unwrap(), UploadStatus::Rejected).await;
}

async fn concurrent_reconcilers_never_share_an_upload(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = app(
        kind,
        &data,
        &[
            ("APP__RECONCILE__ENABLED", "false"),
            ("APP__ISSUANCE__RATE_PER_MINUTE", "0"),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(
            issue(&app, "alice", 10).await["upload_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for id in &ids {
        eventually(&app, id, UploadStatus::Pending).await;
    }
    let store = app.store();
    let far_future = chrono::Utc::now() + chrono::Duration::days(30);
    let (a, b, c) = tokio::join!(
        store.lease_expired_pending(far_future, 25, 60, "a"),
        store.lease_expired_pending(far_future, 25, 60, "b"),
        store.lease_expired_pending(far_future, 25, 60, "c"),
    );
    let mut leased: Vec<String> = [a, b, c]
        .into_iter()
        .flat_map(|r| r.unwrap().into_iter().map(|u| u.upload_id))
        .collect();
    let total = leased.len();
    leased.sort();
    leased.dedup();
    assert_eq!(leased.len(), total, "no upload leased twice");
    assert_eq!(total, 40, "every upload leased once");
    assert!(store
        .lease_expired_pending(far_future, 25, 60, "d")
        .await
        .unwrap()
        .is_empty());
}

async fn a_callback_and_confirmations_racing_give_one_record(kind: StoreKind) {
    let oss = crate::oss_stand_in::OssStandIn::start().await;
    let data = tempfile::tempdir().unwrap();
    let app = app(
        kind,
        &data,
        &[
            DEAD_CALLBACK,
            ("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", oss.prefix.as_str()),
        ],
    )
    .await;
    let file = b"\x89PNG\r\n\x1a\n race".to_vec();
    let c = issue(&app, "alice", file.len()).await;
    let id = c["upload_id"].as_str().unwrap().to_string();
    assert_eq!(put(&app, &c, file.clone()).await.status(), 203);
    eventually(&app, &id, UploadStatus::Pending).await;

    // The late callback (an SDK retry, say) and several confirmations, all at once. The callback OSS makes describes the object the confirmations find in the bucket.
    let etag = hex::encode_upper(<md5::Md5 as md5::Digest>::digest(&file));
    let facts = crate::oss_stand_in::ObjectFacts {
        size: file.len() as u64,
        etag: Box::leak(etag.into_boxed_str()),
        mime_type: "image/png",
        ..Default::default()
    };
    let mut callback = oss.callback_for(&c, &facts);
    callback.path = "/v1/oss/callback".into();
    let (from_callback, confirmations) = tokio::join!(
        async { callback.send(&app).await.text().await.unwrap() },
        futures_util::future::join_all((0..5).map(|_| async {
            let resp = complete(&app, "alice", &id).await;
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        })),
    );
    for body in &confirmations {
        assert_eq!(body, &from_callback, "every answer is the one stored record");
    }
    let record = app.store().get_upload(&id).await.unwrap();
    assert_eq!(record.status, UploadStatus::Completed);
    let page = app
        .client
        .get(app.url("/v1/me/uploads"))
        .bearer_auth(app.token_for("alice"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "one record");
}
