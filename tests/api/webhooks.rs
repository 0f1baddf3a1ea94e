//! Webhooks over real HTTP: uploads through the OSS emulator become signed events at a receiver
//! on loopback; retries, replay, rotation, two instances, a restart, and refused targets.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    completed_upload, error_code, free_port, spawn_app_with, spawn_instance_beside, StoreKind, TestApp,
};
use crate::on_both_stores;
use crate::webhook_receiver::{signed_by, Receiver};

on_both_stores!(
    a_receiver_failing_three_times_gets_the_event_and_replays_keep_its_id,
    events_written_with_no_endpoint_enabled_are_kept_for_replay,
    two_instances_deliver_each_event_once,
    private_targets_are_refused_when_not_allowed,
);

/// Fast retries: 0, 100 ms, 100 ms, ... instead of 0, 5 s, 5 min, ...
const FAST: [(&str, &str); 4] = [
    ("APP__WEBHOOKS__POLL_INTERVAL_MS", "50"),
    ("APP__WEBHOOKS__RETRY_SCHEDULE_MS", "0,100,100,100,100,100"),
    ("APP__WEBHOOKS__TIMEOUT_MS", "3000"),
    ("APP__WEBHOOKS__LEASE_SECS", "10"),
];

/// The service with the OSS emulator (whose callbacks record the uploads) and fast retries.
async fn app(kind: StoreKind, data: &tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    let dir = data.path().display().to_string();
    let mut overrides = vec![
        ("APP__EMULATOR__ENABLED", "true"),
        ("APP__EMULATOR__PORT", "0"),
        ("APP__EMULATOR__DATA_DIR", dir.as_str()),
    ];
    overrides.extend_from_slice(&FAST);
    overrides.extend_from_slice(extra);
    spawn_app_with(kind, &overrides).await
}

/// Uploads a small PNG through the emulator; its callback records it. Returns the upload id.
async fn upload(app: &TestApp, user: &str) -> String {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x03\0\0\0\x02\x08\x06\0\0\0\x12\x34\x56\x78".to_vec();
    let credential = app
        .issue(
            &app.token_for(user),
            json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": png.len()}),
        )
        .await;
    let put = app.put_object(&credential, png).await;
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    credential["upload_id"].as_str().unwrap().to_string()
}

async fn create_endpoint(app: &TestApp, key: &str, body: Value) -> Value {
    let resp = app.post_json("/v1/webhooks/endpoints", Some(key), &body).await;
    let status = resp.status();
    let json: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{json}");
    json
}

/// `POST .../replay` of `endpoint_id` with `body` (`{"event_id"}` or a time range).
async fn replay(app: &TestApp, key: &str, endpoint_id: &str, body: Value) -> reqwest::Response {
    app.post_json(
        &format!("/v1/webhooks/endpoints/{endpoint_id}/replay"),
        Some(key),
        &body,
    )
    .await
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> Value {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn body_of(d: &crate::webhook_receiver::Delivery) -> Value {
    serde_json::from_str(&d.body).unwrap()
}

/// With no endpoint enabled an event is not queued for delivery (nothing would receive it), but it
/// is written all the same: an endpoint registered later gets the events that follow, and the
/// earlier ones by replay.
async fn events_written_with_no_endpoint_enabled_are_kept_for_replay(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = app(kind, &data, &[]).await;
    let key = app.api_key("uploads:admin").await;
    let before = upload(&app, "alice").await;

    let receiver = Receiver::start();
    let endpoint = create_endpoint(&app, &key, json!({"url": receiver.url()})).await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_string();
    let after = upload(&app, "alice").await;
    let received = receiver.wait_for(20, |r| r.iter().any(|d| d.status == 200)).await;
    let uploads: Vec<_> = received
        .iter()
        .map(|d| body_of(d)["data"]["upload_id"].clone())
        .collect();
    assert_eq!(
        uploads,
        [json!(after)],
        "only the event written while the endpoint was enabled"
    );

    let replayed_answer = replay(&app, &key, &endpoint_id, json!({"since": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(replayed_answer.json::<Value>().await.unwrap()["replayed"], 2);
    let received = receiver.wait_for(20, |r| r.len() == 3).await;
    let replayed: Vec<_> = received[1..]
        .iter()
        .map(|d| body_of(d)["data"]["upload_id"].clone())
        .collect();
    assert!(
        replayed.contains(&json!(before)) && replayed.contains(&json!(after)),
        "{replayed:?}"
    );
}

async fn a_receiver_failing_three_times_gets_the_event_and_replays_keep_its_id(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let app = app(kind, &data, &[]).await;
    let key = app.api_key("uploads:admin").await;
    let receiver = Receiver::start();
    receiver.fail_next(3);
    let endpoint = create_endpoint(
        &app,
        &key,
        json!({"url": receiver.url(), "description": "backend"}),
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let endpoint_id = endpoint["id"].as_str().unwrap().to_string();
    // The secret is shown once: never listed again.
    let listed = get_json(&app, &key, "/v1/webhooks/endpoints").await;
    assert_eq!(listed["items"][0]["id"], endpoint_id.as_str());
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");

    let upload_id = upload(&app, "alice").await;
    let received = receiver.wait_for(20, |r| r.iter().any(|d| d.status == 200)).await;
    assert_eq!(
        received.len(),
        4,
        "three failures, then the delivery: {received:#?}"
    );
    let event_id = received[0].id.clone();
    assert!(event_id.starts_with("evt_"));
    for d in &received {
        assert_eq!(d.id, event_id, "every retry carries the same webhook-id");
        assert!(signed_by(d, &secret), "{d:?}");
    }
    let event = body_of(&received[3]);
    assert_eq!(event["type"], "upload.completed");
    assert_eq!(event["data"]["upload_id"], upload_id.as_str());
    assert_eq!(event["data"]["status"], "completed");
    // The record as the records API returns it.
    let record = get_json(&app, &key, &format!("/v1/records/uploads/{upload_id}")).await;
    for field in [
        "upload_id",
        "user_id",
        "profile",
        "bucket",
        "key",
        "size",
        "mime_type",
        "completed_at",
    ] {
        assert_eq!(event["data"][field], record[field], "{field}");
    }

    // Attempts, newest first: the delivery, then three 500s. The worker records an attempt after
    // the receiver answered it: wait for the record.
    let path = format!("/v1/webhooks/endpoints/{endpoint_id}/attempts");
    let mut attempts = get_json(&app, &key, &path).await;
    for _ in 0..100 {
        if attempts["items"][0]["outcome"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        attempts = get_json(&app, &key, &path).await;
    }
    let items = attempts["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{attempts}");
    assert_eq!(
        (items[0]["outcome"].as_str(), items[0]["status_code"].as_i64()),
        (Some("delivered"), Some(200))
    );
    assert_eq!(items[0]["attempt"], 4);
    for failed in &items[1..] {
        assert_eq!(
            (failed["outcome"].as_str(), failed["status_code"].as_i64()),
            (Some("retrying"), Some(500))
        );
        assert!(failed["error"].as_str().unwrap().contains("500"), "{failed}");
    }

    // Rotation: the next deliveries carry both signatures, each verifying with its secret.
    let rotated = app
        .post_json(
            &format!("/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"),
            Some(&key),
            &json!({"overlap_secs": 3600}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let new_secret = rotated.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_secret, secret);

    // Replay of the one event: the same id again, signed by both secrets.
    let replayed_answer = replay(&app, &key, &endpoint_id, json!({"event_id": event_id})).await;
    assert_eq!(replayed_answer.status(), 202);
    let received = receiver
        .wait_for(10, |r| r.iter().filter(|d| d.status == 200).count() == 2)
        .await;
    let replayed = received.last().unwrap();
    assert_eq!(replayed.id, event_id);
    assert_eq!(replayed.body, received[3].body, "a replay sends the same event");
    assert_eq!(replayed.signature.split(' ').count(), 2, "{}", replayed.signature);
    assert!(signed_by(replayed, &new_secret) && signed_by(replayed, &secret));

    // Replay of a time range: every event in it, same ids.
    let replayed_answer = replay(&app, &key, &endpoint_id, json!({"since": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(replayed_answer.json::<Value>().await.unwrap()["replayed"], 1);
    let received = receiver
        .wait_for(10, |r| r.iter().filter(|d| d.status == 200).count() == 3)
        .await;
    assert_eq!(received.last().unwrap().id, event_id);

    // An unknown event or endpoint is named as such.
    let missing = replay(&app, &key, &endpoint_id, json!({"event_id": "evt_nope"})).await;
    assert_eq!(missing.status(), 422);
    assert_eq!(error_code(missing).await, "webhook_event_not_found");

    // Disabled: nothing is sent; deleted: gone.
    let patched = app
        .client
        .patch(app.url(&format!("/v1/webhooks/endpoints/{endpoint_id}")))
        .bearer_auth(&key)
        .json(&json!({"enabled": false, "event_types": ["upload.rejected"]}))
        .send()
        .await
        .unwrap();
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (
            patched["enabled"].as_bool(),
            patched["disabled_reason"].is_string()
        ),
        (Some(false), true)
    );
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/webhooks/endpoints/{endpoint_id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .client
        .get(app.url(&format!("/v1/webhooks/endpoints/{endpoint_id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(gone).await, "webhook_endpoint_not_found");
    receiver.stop().await;
}

/// Two instances deliver from one database with a slow receiver: every event arrives once, and
/// never twice at the same time.
async fn two_instances_deliver_each_event_once(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    let first = app(kind, &data, &[]).await;
    let mut overrides = vec![("APP__EMULATOR__ENABLED", "false")];
    overrides.extend_from_slice(&FAST);
    let second = spawn_instance_beside(&first, &overrides).await;
    let key = first.api_key("uploads:admin").await;
    let receiver = Receiver::start();
    receiver.set_delay(Duration::from_millis(150));
    create_endpoint(&first, &key, json!({"url": receiver.url()})).await;
    let uploads = 12;
    for i in 0..uploads {
        upload(&first, &format!("user{i}")).await;
    }
    let received = receiver.wait_for(30, |r| r.len() >= uploads).await;
    // Room for a duplicate to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received().len().max(received.len());
    assert_eq!(received, uploads, "each event once: {:#?}", receiver.received());
    let ids: std::collections::HashSet<String> = receiver.received().into_iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), uploads);
    assert_eq!(
        receiver
            .state
            .concurrent_duplicates
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    drop(second);
    receiver.stop().await;
}

/// With private targets refused (as in production): loopback URLs are refused when registered,
/// and a name that resolves to loopback is refused when a delivery connects.
async fn private_targets_are_refused_when_not_allowed(kind: StoreKind) {
    let data = tempfile::tempdir().unwrap();
    // The first instance allows them (development) but does not deliver; the second refuses them.
    let first = app(kind, &data, &[("APP__WEBHOOKS__DELIVER", "false")]).await;
    let mut strict = vec![
        ("APP__EMULATOR__ENABLED", "false"),
        ("APP__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "false"),
    ];
    strict.extend_from_slice(&FAST);
    let second = spawn_instance_beside(&first, &strict).await;
    let key = first.api_key("uploads:admin").await;

    for url in [
        "http://127.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "http://localhost:9/hook",
    ] {
        let resp = second
            .post_json("/v1/webhooks/endpoints", Some(&key), &json!({"url": url}))
            .await;
        assert_eq!(resp.status(), 422, "{url}");
        assert_eq!(error_code(resp).await, "webhook_url_refused", "{url}");
    }
    let resp = second
        .post_json(
            "/v1/webhooks/endpoints",
            Some(&key),
            &json!({"url": "ftp://example.com/"}),
        )
        .await;
    assert_eq!(error_code(resp).await, "invalid_webhook_url");
    let reader = first.api_key("uploads:read").await;
    let resp = first
        .post_json(
            "/v1/webhooks/endpoints",
            Some(&reader),
            &json!({"url": "https://example.com/"}),
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "insufficient_scope");

    // Registered where allowed, by a name that resolves to loopback: the strict instance resolves
    // it, refuses the address, and never connects.
    let receiver = Receiver::start();
    let url = format!("http://localhost:{}/hook", receiver.port);
    let endpoint = create_endpoint(&first, &key, json!({"url": url})).await;
    upload(&first, "alice").await;
    let path = format!(
        "/v1/webhooks/endpoints/{}/attempts",
        endpoint["id"].as_str().unwrap()
    );
    let mut attempts = Value::Null;
    for _ in 0..100 {
        attempts = get_json(&second, &key, &path).await;
        if !attempts["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_attempt = &attempts["items"][0];
    assert!(first_attempt["status_code"].is_null(), "{attempts}");
    assert!(
        first_attempt["error"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{attempts}"
    );
    assert!(receiver.received().is_empty());
    receiver.stop().await;
}

/// The receiver is down while the service records uploads and tries them, the service restarts
/// (SIGTERM, a new process), the receiver comes up: every event arrives.
#[tokio::test]
async fn a_receiver_down_across_a_restart_gets_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/service.db", dir.path().display());
    // Retries a second apart: the receiver is still down when the service stops.
    let fast = [
        ("APP__WEBHOOKS__POLL_INTERVAL_MS", "50"),
        (
            "APP__WEBHOOKS__RETRY_SCHEDULE_MS",
            "0,1000,1000,1000,1000,1000,1000,1000,1000,1000",
        ),
    ];
    let port = free_port();
    let service = crate::faults::Service::start_with(dir.path(), &db, port, &fast).await;
    let store = upload_signer::store::open(&crate::helpers::test_settings(&db, &[]).database).unwrap();
    let key = {
        let (record, key) =
            upload_signer::auth::api_keys::generate("tests", &["uploads:admin".to_string()]).unwrap();
        store.insert_api_key(&record).await.unwrap();
        key
    };
    let receiver_port = free_port();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v1/webhooks/endpoints", service.base))
        .bearer_auth(&key)
        .json(&json!({"url": format!("http://127.0.0.1:{receiver_port}/hook")}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let endpoint: Value = created.json().await.unwrap();
    let uploads: Vec<String> = (0..5).map(|i| format!("restart-{i}")).collect();
    for id in &uploads {
        store.record_completed(&completed_upload(id)).await.unwrap();
    }
    // Tried and failed while the receiver is down.
    let path = format!(
        "{}/v1/webhooks/endpoints/{}/attempts",
        service.base,
        endpoint["id"].as_str().unwrap()
    );
    for _ in 0..100 {
        let attempts: Value = client
            .get(&path)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if attempts["items"].as_array().unwrap().len() >= uploads.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.sigterm().await;

    let service = crate::faults::Service::start_with(dir.path(), &db, free_port(), &fast).await;
    let receiver = Receiver::start_at(receiver_port);
    let received = receiver.wait_for(30, |r| r.len() >= uploads.len()).await;
    let mut got: Vec<String> = received
        .iter()
        .map(|d| body_of(d)["data"]["upload_id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, uploads);

    // The CLI: a range replay sends every event again (same ids); a disabled endpoint says so.
    let cli = |args: &[&str]| {
        let mut command = crate::faults::command(dir.path(), &db, &[]);
        command.args(args).output()
    };
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let out = cli(&[
        "webhooks",
        "replay",
        endpoint_id,
        "--since",
        "2020-01-01T00:00:00Z",
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("5 events"));
    let again = receiver.wait_for(30, |r| r.len() >= 2 * uploads.len()).await;
    let first_ids: std::collections::HashSet<&str> = received.iter().map(|d| d.id.as_str()).collect();
    assert!(again[uploads.len()..]
        .iter()
        .all(|d| first_ids.contains(d.id.as_str())));
    let out = cli(&["webhooks", "disable", endpoint_id]).await.unwrap();
    assert!(out.status.success());
    let out = cli(&["webhooks", "list"]).await.unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["enabled"], false);
    assert_eq!(listed["disabled_reason"], "disabled from the command line");
    service.sigterm().await;
    receiver.stop().await;
}

/// Completions spooled during an outage become events when the spool is replayed, one per
/// upload however often it is replayed; a repeated completion makes no second event.
#[tokio::test]
async fn spooled_completions_become_events_when_replayed() {
    use upload_signer::spool::{Spool, SpoolEntry};
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    for id in ["s1", "s2", "s3"] {
        spool
            .append(SpoolEntry::Completed(completed_upload(id)))
            .await
            .unwrap();
    }
    let db = crate::helpers::TestDb::create(StoreKind::Sqlite).await;
    let store = upload_signer::store::open(&crate::helpers::test_settings(db.url(), &[]).database).unwrap();
    store.migrate().await.unwrap();
    assert_eq!(spool.replay(&store).await.unwrap(), 3);
    store.record_completed(&completed_upload("s1")).await.unwrap();
    let (from, to) = (
        chrono::DateTime::UNIX_EPOCH,
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    let events = store.events_between(from, to, 100).await.unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| e.event_type == "upload.completed"));
    // No endpoint is enabled: none of them waits for fan-out (replay reaches them).
    assert_eq!(store.unfanned_events(100).await.unwrap(), []);
}
