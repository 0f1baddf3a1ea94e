//! The developer's and operator's experience (issue 23): the route table against the contract,
//! messages that name what to fix, the profile catalogue, usernames on records, HEAD, the CLI.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use upload_signer::store::CompletedUpload;

use crate::helpers::{
    completed_upload, config_dir, spawn_app, spawn_app_with, test_settings, StoreKind, TestApp,
};
use crate::on_both_stores;

on_both_stores!(records_carry_and_filter_by_username);

/// Every route the server registers is described by `openapi.yaml`, method included.
#[test]
fn every_registered_route_is_in_the_contract() {
    let settings = test_settings("sqlite://unused.db", &[]);
    let spec: Value = serde_norway::from_str(upload_signer::ops::OPENAPI_YAML).unwrap();
    let table = upload_signer::routes::table(&settings);
    assert!(table.len() >= 25, "{table:?}");
    let undocumented: Vec<String> = table
        .iter()
        .filter(|(method, path)| spec["paths"][path][method.as_str().to_lowercase()].is_null())
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(undocumented.is_empty(), "not in openapi.yaml: {undocumented:?}");
}

async fn body_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

fn assert_no_rust_names(message: &str) {
    for rust in [
        "i64",
        "u64",
        "u32",
        "struct ",
        "elements",
        "Deserialize",
        "premature",
    ] {
        assert!(!message.contains(rust), "{message}");
    }
}

#[tokio::test]
async fn bad_input_messages_name_the_parameter_and_the_format() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let key = app.api_key("uploads:read").await;
    let query = |path: &'static str| app.client.get(app.url(path)).bearer_auth(&key).send();
    let cases = [
        (
            "/v1/records/uploads?completed_from=2026-12-04",
            "completed_from: expected RFC 3339, e.g. 2026-12-04T00:00:00Z",
        ),
        (
            "/v1/records/uploads?min_size=abc",
            "min_size: expected a size in bytes",
        ),
        (
            "/v1/records/uploads?limit=ten",
            "limit: expected a whole number from 1 to 1000",
        ),
    ];
    for (path, wanted) in cases {
        let resp = query(path).await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let message = body_of(resp).await["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.starts_with(wanted), "{path}: {message}");
    }
    // An unknown parameter lists this route's parameters, not those of the others.
    let body = body_of(query("/v1/records/stats?colour=red").await.unwrap()).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("group_by") && !message.contains("cursor") && !message.contains("format"),
        "{message}"
    );

    let token = app.token_for("alice");
    let bodies = [
        json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": "big"}),
        json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": -1.5}),
        json!([1, 2, 3, 4, 5]),
        json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": 1, "colour": "red"}),
    ];
    for body in bodies {
        let resp = app.post_json("/v1/uploads", Some(&token), &body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let answer = body_of(resp).await;
        assert_eq!(answer["error"]["code"], "invalid_json");
        assert_no_rust_names(answer["error"]["message"].as_str().unwrap());
    }
    let body = json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": "big"});
    let answer = body_of(app.post_json("/v1/uploads", Some(&token), &body).await).await;
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("size: expected a whole number"), "{message}");

    // 413 states the limit (the app's, and the callback route's own).
    let big = "x".repeat(70_000);
    let resp = app
        .post_json("/v1/auth/token", None, &json!({"username": big, "password": "p"}))
        .await;
    assert_eq!(resp.status(), 413);
    let message = body_of(resp).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("65536 bytes"), "{message}");
    let resp = app
        .client
        .post(app.url("/v1/oss/callback"))
        .header("content-type", "application/json")
        .body("y".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let message = body_of(resp).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("16384 bytes"), "{message}");
}

#[tokio::test]
async fn apps_read_the_profiles_they_may_upload_to() {
    let app = spawn_app(StoreKind::Sqlite).await;
    assert_eq!(app.get("/v1/profiles").await.status(), 401);
    let resp = app
        .client
        .get(app.url("/v1/profiles"))
        .bearer_auth(app.token_for("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = body_of(resp).await;
    let profiles = body["profiles"].as_array().unwrap();
    let chat = profiles
        .iter()
        .find(|p| p["name"] == "chat-image")
        .expect("chat-image");
    assert_eq!(
        *chat,
        json!({
            "name": "chat-image", "content_types": ["image/*"], "max_size_bytes": 20971520,
            "signature_version": "v4", "vars": {"caption": 200, "conversation_id": 64},
            "expires_secs": 1800, "sts": false, "multipart": false
        })
    );
    // Large videos go up in parts: the app learns the part size here.
    assert!(profiles.iter().any(|p| p["name"] == "video"
        && p["signature_version"] == "v1"
        && p["multipart"] == true
        && p["part_size_bytes"] == 1048576));
}

#[tokio::test]
async fn probes_and_docs_answer_head() {
    let app = spawn_app(StoreKind::Sqlite).await;
    for path in ["/healthz", "/readyz", "/docs"] {
        let resp = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.bytes().await.unwrap().is_empty(), "{path}");
    }
}

async fn records_carry_and_filter_by_username(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let alice = app.register("alice").await;
    let now = Utc::now();
    for (id, user) in [("u1", alice.as_str()), ("u2", "external-sub")] {
        let upload = CompletedUpload {
            user_id: user.into(),
            bucket: "b".into(),
            key: format!("k/{id}"),
            size: 10,
            mime_type: Some("image/png".into()),
            issued_at: now - Duration::minutes(1),
            expires_at: now + Duration::minutes(10),
            completed_at: now,
            ..completed_upload(id)
        };
        app.store().record_completed(&upload).await.unwrap();
    }
    // Issued first (the ledger's pending row), settled later: the row written at issuance
    // carries the username through the settlement.
    let issued = app
        .issue(
            &app.token_for(&alice),
            json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10}),
        )
        .await;
    let issued_id = issued["upload_id"].as_str().unwrap().to_string();
    let pending = app.store().get_upload(&issued_id).await.unwrap();
    assert_eq!(pending.username.as_deref(), Some("alice"));
    let upload = CompletedUpload {
        user_id: alice.clone(),
        issued_at: pending.issued_at,
        expires_at: pending.expires_at,
        completed_at: now + Duration::seconds(1),
        ..completed_upload(&issued_id)
    };
    app.store().record_completed(&upload).await.unwrap();
    let key = app.api_key("uploads:read").await;
    let get = |path: String| app.client.get(app.url(&path)).bearer_auth(&key).send();

    let page = body_of(get("/v1/records/uploads?username=alice".into()).await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["items"][0]["upload_id"], issued_id.as_str());
    assert_eq!(page["items"][1]["upload_id"], "u1");
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["username"], "alice", "{item}");
    }
    let page = body_of(get("/v1/records/uploads?username=nobody".into()).await.unwrap()).await;
    assert_eq!(page["items"], json!([]));
    let one = body_of(get("/v1/records/uploads/u1".into()).await.unwrap()).await;
    assert_eq!(one["username"], "alice");
    let one = body_of(get("/v1/records/uploads/u2".into()).await.unwrap()).await;
    assert_eq!(one["username"], Value::Null);
    let stats = body_of(get("/v1/records/stats?username=alice".into()).await.unwrap()).await;
    assert_eq!(stats["total"]["count"], 2);

    let csv = get("/v1/records/export?format=csv&username=alice".into())
        .await
        .unwrap();
    assert_eq!(
        csv.headers()["content-disposition"],
        "attachment; filename=\"uploads.csv\""
    );
    let text = csv.text().await.unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[2], "alice");
    // Timestamps as in JSON: UTC with `Z`, not `+00:00`.
    assert!(row[16].ends_with('Z') && row[17].ends_with('Z'), "{row:?}");
    assert!(!text.contains("+00:00"));
}

fn cli(app: Option<&TestApp>, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"));
    command
        .args(args)
        .env_clear()
        .env("APP_CONFIG_DIR", config_dir())
        .stdin(std::process::Stdio::null());
    if let Some(app) = app {
        command.env("DATABASE_URL", app.db.url());
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn the_cli_speaks_plainly() {
    let help = text(&cli(None, &["--help"], &[]).stdout);
    for wanted in ["APP_ENV", "APP__SERVER__PORT", "DATABASE_URL", "config check"] {
        assert!(help.contains(wanted), "{help}");
    }

    let check = cli(
        None,
        &["config", "check"],
        &[
            ("APP__OSS__ACCESS_KEY_SECRET", "hunter2-oss"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
        ],
    );
    assert!(check.status.success(), "{}", text(&check.stderr));
    let out = text(&check.stdout);
    assert!(out.contains("[server]") && out.contains("port = 8080"), "{out}");
    assert!(
        !out.contains("hunter2") && !out.contains(":pw@") && !out.contains("Settings {"),
        "{out}"
    );
    assert!(
        out.contains("APP__AUTH__KEYS__K1__SECRET"),
        "names the development defaults: {out}"
    );

    let app = spawn_app(StoreKind::Sqlite).await;
    // No terminal and no --password-stdin: one clear error, printed once.
    let create = cli(Some(&app), &["user", "create", "alice"], &[]);
    assert!(!create.status.success());
    let err = text(&create.stderr);
    assert_eq!(err.matches("--password-stdin").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    for name in ["analytics", "a-much-longer-team-name"] {
        let made = cli(
            Some(&app),
            &["api-key", "create", "--name", name, "--scope", "uploads:read"],
            &[],
        );
        assert!(made.status.success(), "{}", text(&made.stderr));
    }
    let listed = text(&cli(Some(&app), &["api-key", "list"], &[]).stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    let column = |line: &str, word: &str| line.find(word).unwrap();
    // Every row's scopes start under the header's `scopes`.
    let at = column(lines[0], "scopes");
    assert!(
        lines[1..].iter().all(|l| column(l, "uploads:read") == at),
        "{listed}"
    );
}

#[tokio::test]
async fn a_port_in_use_names_the_variable_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let app = spawn_app_with(StoreKind::Sqlite, &[]).await;
    let settings = test_settings(app.db.url(), &[("APP__SERVER__PORT", port.as_str())]);
    let err = upload_signer::startup::Application::build(settings)
        .await
        .err()
        .expect("the port is taken");
    assert!(err.to_string().contains("APP__SERVER__PORT"), "{err:#}");
}
