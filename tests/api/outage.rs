//! Losing nothing while the database is away: verified callbacks are spooled durably and
//! replayed once it is back.

use std::time::Duration;

use serde_json::json;
use upload_signer::spool::{Spool, SpoolEntry};

use crate::helpers::{completed_upload, postgres_admin_url, spawn_app_with, StoreKind, TestApp, TestDb};
use crate::oss_stand_in::{ObjectFacts, OssStandIn};
use crate::tcp_proxy::TcpProxy;

#[tokio::test]
async fn callbacks_during_a_database_outage_are_spooled_and_replayed() {
    let db = TestDb::create(StoreKind::Postgres).await;
    let target = url::Url::parse(db.url()).unwrap();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", target.port().unwrap_or(5432))).await;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}{}", proxy.port, target.path());
    let oss = OssStandIn::start().await;
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("DATABASE_URL", via_proxy.as_str()),
            ("APP__DATABASE__CONNECT_TIMEOUT_SECS", "1"),
            ("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", oss.prefix.as_str()),
        ],
    )
    .await;
    let token = app.token_for("alice");
    let body = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});

    // Before: recorded directly.
    let before = app.issue(&token, body.clone()).await;
    assert_eq!(
        oss.callback_for(&before, &ObjectFacts::default())
            .send(&app)
            .await
            .status(),
        200
    );

    // During: issuance keeps working, callbacks are answered 200 from the spool.
    proxy.cut();
    let mut during = Vec::new();
    for _ in 0..8 {
        let credential = app.issue(&token, body.clone()).await;
        let resp = oss
            .callback_for(&credential, &ObjectFacts::default())
            .send(&app)
            .await;
        assert_eq!(resp.status(), 200);
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(answer["upload_id"], credential["upload_id"]);
        during.push(credential["upload_id"].as_str().unwrap().to_string());
    }
    // And a credential nobody uploads with: its ledger row must still reach the database.
    let unused = app.issue(&token, body.clone()).await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "unavailable");
    // The 8 callbacks, and the ledger entries of the 8 credentials issued meanwhile.
    assert!(
        ready["checks"]["spool"]["depth"].as_u64().unwrap() >= 8,
        "{ready}"
    );

    // After: the replayer drains the spool; every upload is in the database exactly once.
    proxy.restore();
    let store = upload_signer::store::open(&crate::helpers::test_settings(db.url(), &[]).database).unwrap();
    let mut count = 0;
    for _ in 0..100 {
        count = store.count_uploads().await.unwrap();
        if count >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..100 {
        count = store.count_uploads().await.unwrap();
        if count == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 10, "nine completed uploads and one pending ledger row");
    let pending = store
        .get_upload(unused["upload_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(pending.status, upload_signer::store::UploadStatus::Pending);
    for upload_id in &during {
        assert_eq!(store.get_upload(upload_id).await.unwrap().size, Some(2048));
    }
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["spool"]["depth"], 0);
    assert!(postgres_admin_url().starts_with("postgres://"));
}

/// The spool is a file: what was appended before a crash is replayed after the restart, and
/// replaying twice records nothing twice.
#[tokio::test]
async fn the_spool_survives_a_restart_and_replays_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path()).unwrap();
        for id in ["a", "b", "c"] {
            spool
                .append(SpoolEntry::Completed(completed_upload(id)))
                .await
                .unwrap();
        }
        assert_eq!(spool.depth(), 3);
    }
    let db = TestDb::create(StoreKind::Sqlite).await;
    let store = upload_signer::store::open(&crate::helpers::test_settings(db.url(), &[]).database).unwrap();
    store.migrate().await.unwrap();
    store.record_completed(&completed_upload("a")).await.unwrap();

    let reopened = Spool::open(dir.path()).unwrap();
    assert_eq!(reopened.depth(), 3);
    assert_eq!(reopened.replay(&store).await.unwrap(), 3);
    assert_eq!(reopened.depth(), 0);
    assert_eq!(store.count_uploads().await.unwrap(), 3);
    assert_eq!(reopened.replay(&store).await.unwrap(), 0);
}

/// Record pages go through two Postgres pools (pages one cached plan serves, and the rest): while
/// the database is cut a page answers 503 with a code, and once it is back pages of both kinds
/// serve the record again, each pool's dead connections replaced.
#[tokio::test]
async fn record_pages_on_both_pools_answer_503_during_an_outage_and_recover() {
    let db = TestDb::create(StoreKind::Postgres).await;
    let target = url::Url::parse(db.url()).unwrap();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", target.port().unwrap_or(5432))).await;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}{}", proxy.port, target.path());
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("DATABASE_URL", via_proxy.as_str()),
            ("APP__DATABASE__CONNECT_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let store = app.store_at(db.url());
    let upload = completed_upload("upload-outage-page");
    store.record_completed(&upload).await.unwrap();
    let (record, key) =
        upload_signer::auth::api_keys::generate("tests", &["uploads:read".to_string()]).unwrap();
    store.insert_api_key(&record).await.unwrap();
    async fn page(app: &TestApp, key: &str, query: &str) -> reqwest::Response {
        let url = app.url(&format!("/v1/records/uploads?{query}"));
        app.client.get(url).bearer_auth(key).send().await.unwrap()
    }
    // A user alone keeps one cached plan; a profile alone is planned for its value.
    let shapes = [
        format!("status=completed&user_id={}", upload.user_id),
        format!("status=completed&profile={}", upload.profile),
    ];
    for query in &shapes {
        let body: serde_json::Value = page(&app, &key, query).await.json().await.unwrap();
        assert_eq!(
            body["items"][0]["upload_id"], "upload-outage-page",
            "{query}: {body}"
        );
    }

    proxy.cut();
    for query in &shapes {
        let resp = page(&app, &key, query).await;
        assert_eq!(resp.status(), 503, "{query}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "database_unavailable", "{query}: {body}");
    }

    proxy.restore();
    for query in &shapes {
        let mut recovered = None;
        for _ in 0..50 {
            let resp = page(&app, &key, query).await;
            if resp.status() == 200 {
                recovered = Some(resp.json::<serde_json::Value>().await.unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body =
            recovered.unwrap_or_else(|| panic!("{query}: no page within 5 s of the database's return"));
        assert_eq!(
            body["items"][0]["upload_id"], "upload-outage-page",
            "{query}: {body}"
        );
    }
}
