//! Health, readiness, error shape, request ids, configuration failures.

use std::process::Stdio;
use std::time::Duration;

use crate::helpers::{
    completed_upload, config_dir, error_code, free_port, spawn_app, spawn_app_with, StoreKind,
};
use crate::on_both_stores;

on_both_stores!(
    health_and_readiness_answer,
    migrations_create_the_tables,
    the_username_migration_fills_rows_written_before_it,
    unknown_route_and_wrong_method_answer_in_json,
);

async fn health_and_readiness_answer(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = match kind {
        StoreKind::Sqlite => "sqlite",
        StoreKind::Postgres => "postgres",
    };
    assert_eq!(body["checks"]["database"]["backend"], expected);
}

async fn migrations_create_the_tables(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let tables = app.table_names().await;
    for table in ["users", "refresh_tokens", "uploads"] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
}

/// A database an older release left: upload rows without the username column. Migrating fills it
/// from the accounts (and leaves external identities' rows without one).
async fn the_username_migration_fills_rows_written_before_it(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let alice = app.register("alice").await;
    let store = app.store();
    for (id, user) in [("by-alice", alice.as_str()), ("by-external", "idp:sub-1")] {
        let upload = upload_signer::store::CompletedUpload {
            user_id: user.into(),
            ..completed_upload(id)
        };
        store.record_completed(&upload).await.unwrap();
    }
    app.execute(&[
        "ALTER TABLE uploads DROP COLUMN username",
        "DELETE FROM _sqlx_migrations WHERE version = 20261204200000",
    ])
    .await;

    store.migrate().await.unwrap();

    let by_alice = store.get_upload("by-alice").await.unwrap();
    assert_eq!(by_alice.username.as_deref(), Some("alice"));
    let by_external = store.get_upload("by-external").await.unwrap();
    assert_eq!(by_external.username, None);
}

async fn unknown_route_and_wrong_method_answer_in_json(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let missing = app.get("/no/such/route").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("x-request-id"));
    assert_eq!(error_code(missing).await, "route_not_found");

    let wrong = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, HEAD");
    assert_eq!(error_code(wrong).await, "method_not_allowed");
}

#[tokio::test]
async fn request_id_is_echoed_or_minted() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-abc-123");
    let minted = app.get("/healthz").await;
    let id = minted.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[tokio::test]
async fn readiness_reports_an_unreachable_database() {
    // Nothing listens on port 1: the server must still start, and say why it is not ready.
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
            ("APP__DATABASE__CONNECT_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["error"]["code"], "not_ready");
    assert!(body["checks"]["database"]["reason"]
        .as_str()
        .unwrap()
        .contains("database"));
}

/// The newcomer's `cargo run`: no configuration but the committed files, no database server.
#[tokio::test]
async fn binary_starts_on_the_embedded_default_store() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"))
        .current_dir(dir.path())
        .env_clear()
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP__SERVER__PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut status = None;
    for _ in 0..100 {
        if let Ok(resp) = client.get(&url).send().await {
            status = Some(resp.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill().await;
    assert_eq!(status, Some(200));
    assert!(
        dir.path().join("data/upload-signer.db").exists(),
        "SQLite file created under data/"
    );
}

#[tokio::test]
async fn malformed_configuration_stops_start_up_naming_the_key() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"))
        .env_clear()
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP__SERVER__PORT", "eighty")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.port"), "stderr: {stderr}");
}

#[tokio::test]
async fn production_refuses_development_secrets() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"))
        .env_clear()
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP_ENV", "production")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("APP__AUTH__KEYS__K1__SECRET"), "stderr: {stderr}");
}

/// SIGTERM: the server stops accepting but the request in flight completes, then it exits 0.
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    use crate::oss_stand_in::{ObjectFacts, OssStandIn};
    // The callback below waits on this slow key server: it is in flight when SIGTERM arrives.
    let oss = OssStandIn::start_slow(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db_url = format!("sqlite://{}/app.db", dir.path().display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"))
        .current_dir(dir.path())
        .env_clear()
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP__SERVER__PORT", port.to_string())
        .env("DATABASE_URL", &db_url)
        .env("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", &oss.prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settings = crate::helpers::test_settings(&db_url, &[]);
    let token = upload_signer::auth::AccessTokens::from_settings(&settings)
        .unwrap()
        .issue("alice", chrono::Utc::now())
        .unwrap()
        .0;
    let credential: serde_json::Value = client
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(token)
        .json(&serde_json::json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let callback = oss.callback_for(&credential, &ObjectFacts::default());
    let in_flight = {
        let client = client.clone();
        let url = format!("{base}{}", callback.path);
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", callback.content_type)
                .header("authorization", &callback.authorization)
                .header("x-oss-pub-key-url", &callback.key_url_header)
                .body(callback.body.clone())
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());

    let answer = in_flight.await.unwrap().expect("in-flight request completed");
    assert_eq!(answer.status(), 200);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "no longer accepting"
    );
}
