//! Upload records for backend teams (API keys) and app users (`/v1/me/uploads`).

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;
use upload_signer::auth::api_keys;
use upload_signer::store::{CompletedUpload, DynStore};

use crate::helpers::{completed_upload, config_dir, error_code, spawn_app, StoreKind, TestApp};
use crate::on_both_stores;

on_both_stores!(
    every_filter_selects_the_right_records,
    paging_is_stable_while_uploads_arrive,
    times_of_any_precision_filter_and_page_in_time_order,
    stats_group_by_day_profile_and_user,
    export_streams_ndjson_and_csv,
    key_scopes_and_token_kinds_are_kept_apart,
    bad_queries_get_400_with_codes,
    nul_bytes_and_invalid_utf8_get_400_on_every_records_parameter,
    app_users_see_only_their_own_uploads,
);

struct Seed {
    id: &'static str,
    user: &'static str,
    profile: &'static str,
    bucket: &'static str,
    key: &'static str,
    mime: &'static str,
    size: i64,
    day: u32,
}

const SEEDS: &[Seed] = &[
    Seed {
        id: "01",
        user: "alice",
        profile: "avatar",
        bucket: "b1",
        key: "avatars/alice/1.jpg",
        mime: "image/jpeg",
        size: 100,
        day: 1,
    },
    Seed {
        id: "02",
        user: "alice",
        profile: "chat-image",
        bucket: "b1",
        key: "chat/alice/2.png",
        mime: "image/png",
        size: 2000,
        day: 1,
    },
    Seed {
        id: "03",
        user: "bob",
        profile: "video",
        bucket: "b2",
        key: "videos/bob/3.mp4",
        mime: "video/mp4",
        size: 90000,
        day: 2,
    },
    Seed {
        id: "04",
        user: "bob",
        profile: "avatar",
        bucket: "b1",
        key: "avatars/bob/4.webp",
        mime: "image/webp",
        size: 300,
        day: 2,
    },
    Seed {
        id: "05",
        user: "carol",
        profile: "chat-image",
        bucket: "b1",
        key: "chat/carol/5.gif",
        mime: "image/gif",
        size: 50,
        day: 3,
    },
    Seed {
        id: "06",
        user: "carol",
        profile: "video",
        bucket: "b2",
        key: "videos/carol/6.mov",
        mime: "video/quicktime",
        size: 700000,
        day: 3,
    },
];

/// A completed upload of user `u` under `avatar` in bucket `b`; callers adjust the rest.
fn completed(id: &str, at: chrono::DateTime<Utc>) -> CompletedUpload {
    CompletedUpload {
        user_id: "u".into(),
        bucket: "b".into(),
        key: format!("k/{id}"),
        etag: Some("ETAG".into()),
        mime_type: Some("image/png".into()),
        vars: serde_json::Map::from_iter([("note".to_string(), Value::String(format!("n,{id}")))]),
        client_ip: Some("203.0.113.1".into()),
        issued_at: at - Duration::minutes(5),
        expires_at: at + Duration::minutes(10),
        completed_at: at,
        ..completed_upload(id)
    }
}

async fn seed(store: &DynStore) {
    for s in SEEDS {
        let at = Utc.with_ymd_and_hms(2026, 11, s.day, 12, 0, 0).unwrap()
            + Duration::seconds(s.id.parse().unwrap());
        let upload = CompletedUpload {
            user_id: s.user.into(),
            profile: s.profile.into(),
            bucket: s.bucket.into(),
            key: s.key.into(),
            mime_type: Some(s.mime.into()),
            size: s.size,
            ..completed(s.id, at)
        };
        store.record_completed(&upload).await.unwrap();
    }
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn ids(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let resp = get(app, path, token).await;
    assert_eq!(resp.status(), 200, "{path}");
    let body: Value = resp.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["upload_id"].as_str().unwrap().to_string())
        .collect()
}

/// One page of `/v1/records/uploads`: its upload ids and the next page's cursor.
async fn page(app: &TestApp, limit: u32, cursor: Option<&str>, token: &str) -> (Vec<String>, Option<String>) {
    let path = match cursor {
        Some(c) => format!("/v1/records/uploads?limit={limit}&cursor={c}"),
        None => format!("/v1/records/uploads?limit={limit}"),
    };
    let body: Value = get(app, &path, token).await.json().await.unwrap();
    let ids = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["upload_id"].as_str().unwrap().to_string())
        .collect();
    (ids, body["next_cursor"].as_str().map(str::to_string))
}

async fn every_filter_selects_the_right_records(kind: StoreKind) {
    let app = spawn_app(kind).await;
    seed(&app.store()).await;
    let key = app.api_key("uploads:read").await;
    let cases: &[(&str, &[&str])] = &[
        ("", &["06", "05", "04", "03", "02", "01"]),
        ("user_id=alice", &["02", "01"]),
        ("profile=video", &["06", "03"]),
        ("bucket=b2", &["06", "03"]),
        ("key_prefix=avatars/", &["04", "01"]),
        ("key_prefix=chat/carol/", &["05"]),
        ("content_type=image/png", &["02"]),
        ("content_type=image/*", &["05", "04", "02", "01"]),
        ("content_type=video/*", &["06", "03"]),
        ("min_size=300", &["06", "04", "03", "02"]),
        ("max_size=300", &["05", "04", "01"]),
        ("min_size=100&max_size=2000", &["04", "02", "01"]),
        ("completed_from=2026-11-02T00:00:00Z", &["06", "05", "04", "03"]),
        ("completed_to=2026-11-02T00:00:00Z", &["02", "01"]),
        (
            "completed_from=2026-11-02T00:00:00Z&completed_to=2026-11-03T00:00:00Z",
            &["04", "03"],
        ),
        // One statement for every value of the shape (on Postgres a cached generic plan).
        ("profile=avatar&content_type=image/jpeg", &["01"]),
        ("profile=avatar&content_type=image/webp", &["04"]),
        ("profile=video&content_type=image/webp", &[]),
        ("user_id=bob&profile=avatar&bucket=b1", &["04"]),
        ("user_id=nobody", &[]),
    ];
    for (query, expected) in cases {
        let got = ids(&app, &format!("/v1/records/uploads?{query}"), &key).await;
        assert_eq!(got, *expected, "{query}");
    }
    let one = get(&app, "/v1/records/uploads/03", &key).await;
    assert_eq!(one.status(), 200);
    let record: Value = one.json().await.unwrap();
    assert_eq!(record["key"], "videos/bob/3.mp4");
    assert_eq!(record["vars"]["note"], "n,03");
    let missing = get(&app, "/v1/records/uploads/nope", &key).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(error_code(missing).await, "upload_not_found");
}

async fn paging_is_stable_while_uploads_arrive(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let store = app.store();
    let base = Utc::now() - Duration::hours(1);
    for i in 0..25 {
        let id = format!("old{i:02}");
        // Several share a timestamp: the id breaks ties.
        let at = base + Duration::seconds(i / 3);
        store.record_completed(&completed(&id, at)).await.unwrap();
    }
    let key = app.api_key("uploads:admin").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (items, next) = page(&app, 10, cursor.as_deref(), &key).await;
        seen.extend(items);
        pages += 1;
        if pages == 1 {
            // New uploads land while the client pages.
            for i in 0..5 {
                let id = format!("new{i}");
                store.record_completed(&completed(&id, Utc::now())).await.unwrap();
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    let expected: BTreeSet<String> = (0..25).map(|i| format!("old{i:02}")).collect();
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected, "no gaps");
    assert_eq!(ids(&app, "/v1/records/uploads?limit=1000", &key).await.len(), 30);
}

/// Completion times of every precision, from whole seconds to nanoseconds, filter and page in
/// time order. (SQLite keeps times as text: only one fixed width makes text order time order.)
async fn times_of_any_precision_filter_and_page_in_time_order(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let store = app.store();
    let t = Utc.with_ymd_and_hms(2026, 11, 10, 12, 0, 1).unwrap();
    let times = [
        ("a", t),
        ("b", t + Duration::milliseconds(500)),
        ("c", t + Duration::microseconds(500_001)),
        ("d", t + Duration::nanoseconds(999_999_999)),
        ("e", t + Duration::seconds(1)),
        ("f", t - Duration::microseconds(1)),
    ];
    for (id, at) in times {
        store.record_completed(&completed(id, at)).await.unwrap();
    }
    let key = app.api_key("uploads:read").await;
    let cases: &[(&str, &[&str])] = &[
        (
            "completed_from=2026-11-10T12:00:01Z&completed_to=2026-11-10T12:00:02Z",
            &["d", "c", "b", "a"],
        ),
        ("completed_from=2026-11-10T12:00:01.5Z", &["e", "d", "c", "b"]),
        ("completed_to=2026-11-10T12:00:01.500Z", &["a", "f"]),
    ];
    for (query, expected) in cases {
        let got = ids(&app, &format!("/v1/records/uploads?{query}"), &key).await;
        assert_eq!(got, *expected, "{query}");
    }
    let (mut seen, mut cursor) = page(&app, 2, None, &key).await;
    while let Some(c) = cursor {
        let (items, next) = page(&app, 2, Some(&c), &key).await;
        seen.extend(items);
        cursor = next;
    }
    assert_eq!(seen, ["e", "d", "c", "b", "a", "f"]);
}

async fn stats_group_by_day_profile_and_user(kind: StoreKind) {
    let app = spawn_app(kind).await;
    seed(&app.store()).await;
    let key = app.api_key("uploads:read").await;
    let body: Value = get(&app, "/v1/records/stats", &key).await.json().await.unwrap();
    assert_eq!(
        body["groups"],
        serde_json::json!([
            {"group": "2026-11-01", "count": 2, "bytes": 2100},
            {"group": "2026-11-02", "count": 2, "bytes": 90300},
            {"group": "2026-11-03", "count": 2, "bytes": 700050},
        ])
    );
    assert_eq!(body["total"], serde_json::json!({"count": 6, "bytes": 792450}));
    let body: Value = get(&app, "/v1/records/stats?group_by=profile&bucket=b1", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["groups"],
        serde_json::json!([
            {"group": "avatar", "count": 2, "bytes": 400},
            {"group": "chat-image", "count": 2, "bytes": 2050},
        ])
    );
    let body: Value = get(
        &app,
        "/v1/records/stats?group_by=user&completed_from=2026-11-02T00:00:00Z",
        &key,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        body["groups"],
        serde_json::json!([
            {"group": "bob", "count": 2, "bytes": 90300},
            {"group": "carol", "count": 2, "bytes": 700050},
        ])
    );
}

async fn export_streams_ndjson_and_csv(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let store = app.store();
    seed(&store).await;
    // More than one internal page.
    for i in 0..1200 {
        let id = format!("bulk{i:04}");
        store.record_completed(&completed(&id, Utc::now())).await.unwrap();
    }
    let key = app.api_key("uploads:read").await;
    let resp = get(&app, "/v1/records/export", &key).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1206);
    let unique: BTreeSet<&str> = lines.iter().map(|l| l["upload_id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 1206);

    let resp = get(&app, "/v1/records/export?format=csv&user_id=alice", &key).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("upload_id,user_id,username,profile,bucket,key,size"));
    assert!(rows[1].starts_with("02,alice,,chat-image,b1,chat/alice/2.png,2000,"));
    assert!(rows[1].contains("\"{\"\"note\"\":\"\"n,02\"\"}\""), "{}", rows[1]);
}

async fn key_scopes_and_token_kinds_are_kept_apart(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let key = app.api_key("uploads:read").await;
    let user = app.token_for("alice");

    let resp = app.get("/v1/records/uploads").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "missing_token");
    let resp = get(&app, "/v1/records/uploads", &user).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "api_key_required");
    let resp = get(&app, "/v1/records/uploads", "usk_0123456789abcdef_wrong").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "invalid_api_key");
    let resp = get(&app, "/v1/me/uploads", &key).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "user_token_required");
    let resp = app
        .post_json("/v1/uploads", Some(&key), &serde_json::json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 1}))
        .await;
    assert_eq!(resp.status(), 403);

    assert_eq!(get(&app, "/v1/records/uploads", &key).await.status(), 200);
    // The key's record is now remembered; its secret is still checked on every request.
    let id = key.split('_').nth(1).unwrap().to_string();
    let forged = format!("usk_{id}_{}", "A".repeat(43));
    let resp = get(&app, "/v1/records/uploads", &forged).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "invalid_api_key");
    assert_eq!(get(&app, "/v1/records/uploads", &key).await.status(), 200);

    // A revocation reaches the running service within `REMEMBER`.
    app.store().revoke_api_key(&id, Utc::now()).await.unwrap();
    tokio::time::sleep(api_keys::REMEMBER).await;
    let resp = get(&app, "/v1/records/uploads", &key).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "invalid_api_key");
}

async fn bad_queries_get_400_with_codes(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let key = app.api_key("uploads:read").await;
    let cases = [
        ("/v1/records/uploads?colour=red", "invalid_query"),
        ("/v1/records/uploads?limit=0", "invalid_limit"),
        ("/v1/records/uploads?limit=1001", "invalid_limit"),
        ("/v1/records/uploads?limit=ten", "invalid_query"),
        ("/v1/records/uploads?cursor=not-a-cursor", "invalid_cursor"),
        ("/v1/records/uploads?min_size=10&max_size=1", "invalid_range"),
        (
            "/v1/records/uploads?completed_from=2026-11-03T00:00:00Z&completed_to=2026-11-01T00:00:00Z",
            "invalid_range",
        ),
        ("/v1/records/uploads?completed_from=yesterday", "invalid_query"),
        ("/v1/records/uploads?content_type=*/*", "invalid_filter"),
        ("/v1/records/uploads?group_by=day", "invalid_filter"),
        ("/v1/records/stats?group_by=week", "invalid_filter"),
        ("/v1/records/export?format=xml", "invalid_filter"),
    ];
    for (path, code) in cases {
        let resp = get(&app, path, &key).await;
        assert_eq!(resp.status(), 400, "{path}");
        assert_eq!(error_code(resp).await, code, "{path}");
    }
}

/// Walks every string query parameter of the records routes, as the contract lists them, with a
/// NUL byte and with invalid UTF-8; then the path ids and a cursor whose id holds a NUL. Postgres
/// refuses NUL in text (a 500), and lossy decoding would filter on a value never sent.
async fn nul_bytes_and_invalid_utf8_get_400_on_every_records_parameter(kind: StoreKind) {
    let app = spawn_app(kind).await;
    seed(&app.store()).await;
    let key = app.api_key("uploads:read").await;
    let user = app.token_for("alice");
    let spec: Value = serde_norway::from_str(upload_signer::ops::OPENAPI_YAML).unwrap();
    let mut walked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !(path.starts_with("/v1/records/") || path.starts_with("/v1/me/uploads")) {
            continue;
        }
        let token = if path.starts_with("/v1/me/") { &user } else { &key };
        let params = item["get"]["parameters"].as_array().cloned().unwrap_or_default();
        for param in params
            .iter()
            .filter(|p| p["in"] == "query" && p["schema"]["type"] == "string")
        {
            let name = param["name"].as_str().unwrap();
            for value in ["%00", "csv%00", "%FF", "a%C3"] {
                let url = path.replace("{upload_id}", "01") + &format!("?{name}={value}");
                let resp = get(&app, &url, token).await;
                assert_eq!(resp.status(), 400, "{url}");
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["error"]["code"], "invalid_query", "{url}");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains(&format!("`{name}`")), "{url}: {message}");
                walked += 1;
            }
        }
        if path.contains("{upload_id}") {
            for id in ["%00", "01%00", "%FF"] {
                let resp = get(&app, &path.replace("{upload_id}", id), token).await;
                assert_eq!(resp.status(), 400, "{path} {id}");
                assert_eq!(error_code(resp).await, "invalid_path");
            }
        }
    }
    assert!(walked >= 4 * 30, "{walked}");

    // The export answered 200 with no rows for this one.
    let resp = get(&app, "/v1/records/export?format=csv&profile=%00", &key).await;
    assert_eq!(resp.status(), 400);
    // A well-formed cursor whose id holds a NUL.
    use base64::Engine;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"t":"2026-11-01T00:00:00Z","id":"0\u0000"}"#);
    let resp = get(&app, &format!("/v1/records/uploads?cursor={cursor}"), &key).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "invalid_cursor");
    // Legitimate non-ASCII still passes.
    let resp = get(&app, "/v1/records/uploads?key_prefix=%E7%85%A7", &key).await;
    assert_eq!(resp.status(), 200);
}

async fn app_users_see_only_their_own_uploads(kind: StoreKind) {
    let app = spawn_app(kind).await;
    seed(&app.store()).await;
    let alice = app.token_for("alice");
    assert_eq!(ids(&app, "/v1/me/uploads", &alice).await, ["02", "01"]);
    assert_eq!(
        ids(&app, "/v1/me/uploads?content_type=image/png", &alice).await,
        ["02"]
    );
    let resp = get(&app, "/v1/me/uploads?user_id=bob", &alice).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(get(&app, "/v1/me/uploads/01", &alice).await.status(), 200);
    let resp = get(&app, "/v1/me/uploads/03", &alice).await;
    assert_eq!(resp.status(), 404, "bob's upload is invisible to alice");
}

/// The CLI creates, lists and revokes keys against the same database the server uses.
#[tokio::test]
async fn cli_manages_api_keys() {
    let app = spawn_app(StoreKind::Postgres).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"))
            .args(args)
            .env_clear()
            .env("APP_CONFIG_DIR", config_dir())
            .env("DATABASE_URL", app.db.url())
            .output()
            .unwrap()
    };
    let created = run(&[
        "api-key",
        "create",
        "--name",
        "analytics",
        "--scope",
        "uploads:read",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("usk_"));
    assert_eq!(get(&app, "/v1/records/uploads", &key).await.status(), 200);

    let listed = String::from_utf8(run(&["api-key", "list"]).stdout).unwrap();
    let id = key.split('_').nth(1).unwrap();
    assert!(listed.contains(id) && listed.contains("analytics") && !listed.contains(&key));

    assert!(run(&["api-key", "revoke", id]).status.success());
    tokio::time::sleep(api_keys::REMEMBER).await;
    assert_eq!(get(&app, "/v1/records/uploads", &key).await.status(), 401);
    assert!(
        !run(&["api-key", "revoke", id]).status.success(),
        "revoking twice fails"
    );
    let bad = run(&["api-key", "create", "--name", "x", "--scope", "uploads:write"]);
    assert!(!bad.status.success());
}
