//! Abuse resistance end to end: registration and login limits keyed on the real client address,
//! bounded password hashing, limits shared between instances, upload quotas.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app_with, spawn_instance_beside, StoreKind, TestApp};
use crate::on_both_stores;

on_both_stores!(
    registration_is_limited_per_client_address_and_overall,
    a_stranger_cannot_lock_the_owner_out,
    login_ceilings_per_account_and_per_address,
    quotas_refuse_issuance_and_reset_as_documented,
);

const PASSWORD: &str = "correct horse battery";
/// The test client connects from 127.0.0.1: trusted as a proxy, its X-Forwarded-For names clients.
const BEHIND_PROXY: (&str, &str) = ("APP__SERVER__TRUSTED_PROXIES", "127.0.0.1/32");

async fn post_from(app: &TestApp, client: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

async fn register_from(app: &TestApp, client: &str, username: &str) -> reqwest::Response {
    let body = json!({"username": username, "password": PASSWORD});
    post_from(app, client, "/v1/auth/register", body).await
}

async fn login_from(app: &TestApp, client: &str, username: &str, password: &str) -> reqwest::Response {
    let body = json!({"username": username, "password": password});
    post_from(app, client, "/v1/auth/token", body).await
}

/// Asserts a refusal with `Retry-After` and returns the code.
async fn refused(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status(), status);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    error_code(resp).await
}

async fn registration_is_limited_per_client_address_and_overall(kind: StoreKind) {
    let app = spawn_app_with(
        kind,
        &[
            BEHIND_PROXY,
            ("APP__AUTH__REGISTER_LIMIT__PER_ADDRESS_PER_HOUR", "2"),
            ("APP__AUTH__REGISTER_LIMIT__TOTAL_PER_MINUTE", "4"),
        ],
    )
    .await;
    assert_eq!(register_from(&app, "198.51.100.1", "anna1").await.status(), 201);
    assert_eq!(register_from(&app, "198.51.100.1", "anna2").await.status(), 201);
    let third = register_from(&app, "198.51.100.1", "anna3").await;
    assert_eq!(refused(third, 429).await, "too_many_registrations");
    // A forged hop left of the client's real address changes nothing.
    let forged = register_from(&app, "203.0.113.77, 198.51.100.1", "anna4").await;
    assert_eq!(forged.status(), 429);
    assert_eq!(register_from(&app, "198.51.100.2", "bert1").await.status(), 201);
    assert_eq!(register_from(&app, "198.51.100.2", "bert2").await.status(), 201);
    // Four accounts this minute from everyone together: the overall limit.
    let overall = register_from(&app, "198.51.100.3", "cleo1").await;
    assert_eq!(refused(overall, 429).await, "too_many_registrations");
}

#[tokio::test]
async fn registration_refuses_unknown_fields_and_guessable_passwords() {
    let app = spawn_app_with(StoreKind::Sqlite, &[]).await;
    let body = json!({"username": "mallory", "password": PASSWORD, "admin": true});
    let resp = post_from(&app, "x", "/v1/auth/register", body).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "invalid_json");
    for weak in ["password1234", "qwertyuiop123", "mallory2026!"] {
        let body = json!({"username": "mallory", "password": weak});
        let resp = post_from(&app, "x", "/v1/auth/register", body).await;
        assert_eq!(resp.status(), 422, "{weak}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "password_too_weak", "{weak}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too easy to guess"));
    }
}

/// A flood of registrations never holds more than `concurrency` Argon2 hashes in memory: past
/// the queue the answer is 503 with Retry-After, never a pile of waiting 19 MiB hashes.
#[tokio::test]
async fn password_hashing_beyond_its_queue_answers_503() {
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("APP__AUTH__HASHING__CONCURRENCY", "1"),
            ("APP__AUTH__HASHING__QUEUE", "1"),
            ("APP__AUTH__REGISTER_LIMIT__PER_ADDRESS_PER_HOUR", "0"),
            ("APP__AUTH__REGISTER_LIMIT__TOTAL_PER_MINUTE", "0"),
        ],
    )
    .await;
    let flood = (0..12).map(|i| {
        let body = json!({"username": format!("flood{i}"), "password": PASSWORD});
        app.client.post(app.url("/v1/auth/register")).json(&body).send()
    });
    let answers = futures_util::future::join_all(flood).await;
    let mut busy = 0;
    for resp in answers {
        let resp = resp.unwrap();
        match resp.status().as_u16() {
            201 => {}
            503 => {
                assert_eq!(refused(resp, 503).await, "server_busy");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "twelve at once with room for two");
}

async fn a_stranger_cannot_lock_the_owner_out(kind: StoreKind) {
    let app = spawn_app_with(
        kind,
        &[
            BEHIND_PROXY,
            ("APP__AUTH__LOGIN_LIMIT__FREE_FAILURES", "3"),
            ("APP__AUTH__LOGIN_LIMIT__MAX_BACKOFF_SECS", "1"),
        ],
    )
    .await;
    assert_eq!(register_from(&app, "192.0.2.1", "carol").await.status(), 201);
    let stranger = "203.0.113.66";
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, stranger, "carol", "guess guess guess")
                .await
                .status(),
            401
        );
    }
    // Now the stranger waits between guesses, even with the right password...
    let waiting = login_from(&app, stranger, " Carol", PASSWORD).await;
    assert_eq!(refused(waiting, 429).await, "too_many_login_attempts");
    // ...while the owner, elsewhere, logs in at once.
    assert_eq!(
        login_from(&app, "192.0.2.1", "carol", PASSWORD).await.status(),
        200
    );
    // After the wait (1 s here) the stranger may try again: slowed, never locked out for good.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        login_from(&app, stranger, "carol", "guess again").await.status(),
        401
    );
    assert_eq!(
        login_from(&app, stranger, "carol", "and again").await.status(),
        429,
        "the wait doubles"
    );
}

async fn login_ceilings_per_account_and_per_address(kind: StoreKind) {
    let app = spawn_app_with(
        kind,
        &[
            BEHIND_PROXY,
            ("APP__AUTH__LOGIN_LIMIT__MAX_FAILURES_PER_ACCOUNT", "3"),
            ("APP__AUTH__LOGIN_LIMIT__MAX_FAILURES_PER_ADDRESS", "4"),
        ],
    )
    .await;
    assert_eq!(register_from(&app, "192.0.2.1", "dave").await.status(), 201);
    // A guess spread over addresses meets the per-username ceiling.
    for i in 1..=3 {
        let from = format!("203.0.113.{i}");
        assert_eq!(login_from(&app, &from, "dave", "guess guess").await.status(), 401);
    }
    let spread = login_from(&app, "203.0.113.9", "dave", "guess guess").await;
    assert_eq!(refused(spread, 429).await, "too_many_login_attempts");

    // One address spraying usernames meets the per-address ceiling; other clients of the same
    // proxy are not affected (before, the proxy's own address was everybody's).
    for name in ["u1", "u2", "u3", "u4"] {
        assert_eq!(
            login_from(&app, "198.51.100.7", name, "guess guess")
                .await
                .status(),
            401
        );
    }
    let spray = login_from(&app, "198.51.100.7", "u5", "guess guess").await;
    assert_eq!(refused(spray, 429).await, "too_many_login_attempts");
    assert_eq!(register_from(&app, "192.0.2.2", "erin").await.status(), 201);
    assert_eq!(
        login_from(&app, "192.0.2.2", "erin", PASSWORD).await.status(),
        200
    );
}

/// N instances must not be N times looser: two servers on one Postgres database share the
/// issuance, login and registration limits.
#[tokio::test]
async fn limits_are_shared_between_instances_on_postgres() {
    let settings = [
        BEHIND_PROXY,
        ("APP__ISSUANCE__RATE_PER_MINUTE", "60"),
        ("APP__ISSUANCE__BURST", "2"),
        ("APP__AUTH__LOGIN_LIMIT__FREE_FAILURES", "2"),
        ("APP__AUTH__REGISTER_LIMIT__PER_ADDRESS_PER_HOUR", "2"),
    ];
    let one = spawn_app_with(StoreKind::Postgres, &settings).await;
    let two = spawn_instance_beside(&one, &settings).await;

    let body = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});
    let alice = one.token_for("alice");
    one.issue(&alice, body.clone()).await;
    two.issue(&alice, body.clone()).await;
    let third = two.post_json("/v1/uploads", Some(&alice), &body).await;
    assert_eq!(refused(third, 429).await, "rate_limited");

    assert_eq!(register_from(&one, "198.51.100.1", "frank").await.status(), 201);
    assert_eq!(register_from(&two, "198.51.100.1", "grace").await.status(), 201);
    let third = register_from(&one, "198.51.100.1", "heidi").await;
    assert_eq!(refused(third, 429).await, "too_many_registrations");

    assert_eq!(
        login_from(&one, "203.0.113.5", "frank", "guess guess")
            .await
            .status(),
        401
    );
    assert_eq!(
        login_from(&two, "203.0.113.5", "frank", "guess guess")
            .await
            .status(),
        401
    );
    let third = login_from(&one, "203.0.113.5", "frank", PASSWORD).await;
    assert_eq!(refused(third, 429).await, "too_many_login_attempts");
}

async fn usage(app: &TestApp, token: &str) -> Value {
    let resp = app
        .client
        .get(app.url("/v1/me/usage"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The ledger writes issued credentials behind the request: wait until `files` are counted.
async fn wait_for_files(app: &TestApp, token: &str, profile: &str, files: i64) -> Value {
    for _ in 0..100 {
        let body = usage(app, token).await;
        let item = body["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["profile"] == profile)
            .cloned();
        if item.as_ref().is_some_and(|i| i["files_today"] == files) {
            return item.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{files} uploads of {profile} never counted");
}

async fn quotas_refuse_issuance_and_reset_as_documented(kind: StoreKind) {
    let app = spawn_app_with(
        kind,
        &[
            ("APP__ISSUANCE__RATE_PER_MINUTE", "0"),
            ("APP__PROFILES__AVATAR__QUOTA__FILES_PER_DAY", "2"),
            ("APP__PROFILES__CHAT-IMAGE__QUOTA__BYTES_TOTAL", "1000"),
        ],
    )
    .await;
    let alice = app.token_for("alice");
    let avatar = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});
    app.issue(&alice, avatar.clone()).await;
    app.issue(&alice, avatar.clone()).await;
    let item = wait_for_files(&app, &alice, "avatar", 2).await;
    assert_eq!(
        item["bytes_today"], 20,
        "pending credentials count at their declared size"
    );
    assert_eq!(item["quota"]["files_per_day"], 2);

    let resp = app.post_json("/v1/uploads", Some(&alice), &avatar).await;
    assert_eq!(resp.status(), 429);
    let retry: i64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert_eq!(body["error"]["limit"], "files_per_day");
    let resets_at = body["error"]["resets_at"].as_str().unwrap();
    assert!(resets_at.ends_with("T00:00:00Z"), "{resets_at}");
    assert!(body["error"]["message"].as_str().unwrap().contains(resets_at));
    // Another user has a quota of their own.
    app.issue(&app.token_for("bob"), avatar.clone()).await;

    // An abandoned credential stops counting.
    let first = app.store();
    let pending = first
        .upload_usage(
            "alice",
            Some("avatar"),
            chrono::Utc::now() - chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(pending[0].files_total, 2);
    let issued: Vec<String> = {
        let page: Value = app
            .client
            .get(app.url("/v1/me/uploads?status=pending&profile=avatar"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["upload_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(first.mark_abandoned(&issued[0], "test").await.unwrap());
    app.issue(&alice, avatar).await;

    // A total in bytes: 600 + 500 would pass 1000, and it never resets.
    let chat = |size: i64| json!({"profile": "chat-image", "filename": "c.png", "content_type": "image/png", "size": size});
    app.issue(&alice, chat(600)).await;
    wait_for_files(&app, &alice, "chat-image", 1).await;
    let resp = app.post_json("/v1/uploads", Some(&alice), &chat(500)).await;
    assert_eq!(resp.status(), 429);
    assert!(!resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["limit"], "bytes_total");
    assert_eq!(body["error"]["resets_at"], Value::Null);
    app.issue(&alice, chat(400)).await;
}
