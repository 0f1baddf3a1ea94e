//! `GET /v1/sts/credentials` and the `sts` part of `POST /v1/uploads`, against a local STS
//! stand-in that checks every AssumeRole as Alibaba does. STS never touches the database, so these
//! run on SQLite only.

mod stand_in;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stand_in::StsStandIn;

use crate::helpers::{error_code, spawn_app_with, StoreKind, TestApp};

async fn app_with(stand_in: &StsStandIn, extra: &[(&str, &str)]) -> TestApp {
    let overrides = stand_in.overrides();
    let mut all: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    spawn_app_with(StoreKind::Sqlite, &all).await
}

impl TestApp {
    async fn sts_by_query(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/v1/sts/credentials"))
            .query(&[("access_token", token)])
            .send()
            .await
            .expect("request sent")
    }

    async fn sts_by_header(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/v1/sts/credentials"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }
}

fn keys(body: &Value) -> BTreeSet<&str> {
    body.as_object().unwrap().keys().map(String::as_str).collect()
}

/// `{"StatusCode", "ErrorCode", "ErrorMessage"}` and nothing else; returns the code. The HTTP
/// status is `status` on the header path, 200 on the `access_token` path (the Android provider
/// reads no body otherwise).
async fn sdk_error(resp: reqwest::Response, status: u16) -> String {
    let by_query = resp.url().query().is_some_and(|q| q.contains("access_token="));
    sdk_error_as(resp, if by_query { 200 } else { status }, status).await
}

/// The SDK error shape sent with HTTP `http_status`, carrying `status` in `StatusCode`.
async fn sdk_error_as(resp: reqwest::Response, http_status: u16, status: u16) -> String {
    assert_eq!(resp.status(), http_status);
    if http_status == 200 {
        assert!(!resp.headers().contains_key("www-authenticate"));
    }
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        keys(&body),
        BTreeSet::from(["StatusCode", "ErrorCode", "ErrorMessage"]),
        "{body}"
    );
    assert_eq!(body["StatusCode"], status);
    assert!(body["ErrorMessage"].as_str().is_some_and(|m| !m.is_empty()));
    body["ErrorCode"].as_str().unwrap().to_string()
}

fn is_sdk_expiration(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn query_token_gets_the_sdk_json_and_the_header_reuses_it() {
    let sts = StsStandIn::start().await;
    let app = app_with(&sts, &[]).await;
    let token = app.token_for("alice");

    let resp = app.sts_by_query(&token).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        keys(&body),
        BTreeSet::from([
            "StatusCode",
            "AccessKeyId",
            "AccessKeySecret",
            "SecurityToken",
            "Expiration",
            "bucket",
            "region",
            "endpoint",
            "prefix"
        ])
    );
    assert_eq!(body["StatusCode"], json!(200));
    assert_eq!(body["AccessKeyId"], "STS.standin0");
    assert_eq!(body["AccessKeySecret"], "stand-in-secret-0");
    assert_eq!(body["SecurityToken"], "CAIS-stand-in-token-0");
    assert!(is_sdk_expiration(body["Expiration"].as_str().unwrap()), "{body}");
    assert_eq!(body["bucket"], "demo-bucket");
    assert_eq!(body["region"], "cn-hangzhou");
    assert_eq!(body["endpoint"], "https://oss-cn-hangzhou.aliyuncs.com");
    assert_eq!(body["prefix"], "avatars/alice/");

    let received = sts.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].resource, "acs:oss:*:*:demo-bucket/avatars/alice/*");
    assert_eq!(received[0].session_name, "alice");
    assert_eq!(received[0].duration_secs, 3600);

    // The header path answers from the cache: no second AssumeRole.
    let resp = app.sts_by_header(&token).await;
    assert_eq!(resp.status(), 200);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["AccessKeyId"], body["AccessKeyId"]);
    assert_eq!(sts.calls(), 1);

    // Another user gets their own prefix and their own call.
    let bob: Value = app
        .sts_by_header(&app.token_for("bob"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bob["prefix"], "avatars/bob/");
    assert_ne!(bob["AccessKeyId"], body["AccessKeyId"]);
    assert_eq!(sts.calls(), 2);
    assert!(sts.refused().is_empty(), "{:?}", sts.refused());
}

#[tokio::test]
async fn concurrent_requests_make_one_assume_role_call() {
    let sts = StsStandIn::start().await;
    sts.delay(Duration::from_millis(300));
    let app = app_with(&sts, &[]).await;
    let token = app.token_for("carol");
    let answers = futures_util::future::join_all((0..10).map(|_| app.sts_by_query(&token))).await;
    let mut ids = BTreeSet::new();
    for resp in answers {
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        ids.insert(body["AccessKeyId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(sts.calls(), 1);
}

#[tokio::test]
async fn credentials_near_expiry_are_renewed() {
    let sts = StsStandIn::start().await;
    // STS hands out credentials that expire within refresh_before_secs (300): never reused.
    sts.lifetime_secs(Some(200));
    let app = app_with(&sts, &[]).await;
    let token = app.token_for("dave");
    let first: Value = app.sts_by_query(&token).await.json().await.unwrap();
    let second: Value = app.sts_by_query(&token).await.json().await.unwrap();
    assert_ne!(first["AccessKeyId"], second["AccessKeyId"]);
    assert_eq!(sts.calls(), 2);

    sts.lifetime_secs(None);
    let third: Value = app.sts_by_query(&token).await.json().await.unwrap();
    let fourth: Value = app.sts_by_query(&token).await.json().await.unwrap();
    assert_eq!(third["AccessKeyId"], fourth["AccessKeyId"]);
    assert_eq!(sts.calls(), 3);
}

#[tokio::test]
async fn sts_errors_become_clean_502_and_503() {
    let sts = StsStandIn::start().await;
    let app = app_with(&sts, &[]).await;
    let token = app.token_for("erin");

    sts.fail_with(Some((400, "Throttling.User")));
    assert_eq!(
        sdk_error(app.sts_by_query(&token).await, 503).await,
        "sts_throttled"
    );
    sts.fail_with(Some((403, "NoPermission")));
    assert_eq!(sdk_error(app.sts_by_query(&token).await, 502).await, "sts_error");
    sts.fail_with(Some((500, "InternalError")));
    assert_eq!(
        sdk_error(app.sts_by_query(&token).await, 503).await,
        "sts_unavailable"
    );
    assert_eq!(sts.calls(), 3, "failures are not cached");

    sts.fail_with(None);
    let ok: Value = app.sts_by_query(&token).await.json().await.unwrap();
    assert_eq!(ok["StatusCode"], 200, "{ok}");
    assert!(sts.refused().is_empty(), "{:?}", sts.refused());
}

#[tokio::test]
async fn a_slow_sts_times_out_with_503() {
    let sts = StsStandIn::start().await;
    sts.delay(Duration::from_millis(2500));
    let app = app_with(&sts, &[]).await;
    let started = Instant::now();
    let resp = app.sts_by_query(&app.token_for("frank")).await;
    assert_eq!(sdk_error(resp, 503).await, "sts_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_in_the_sdk_shape() {
    let sts = StsStandIn::start().await;
    let app = app_with(&sts, &[]).await;

    let resp = app.sts_by_query("not-a-token").await;
    assert_eq!(sdk_error(resp, 401).await, "invalid_token");
    let resp = app.sts_by_header("not-a-token").await;
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_eq!(sdk_error(resp, 401).await, "invalid_token");
    let resp = app.get("/v1/sts/credentials").await;
    assert_eq!(sdk_error(resp, 401).await, "missing_token");
    let token = app.token_for("gina");
    let both = app
        .client
        .get(app.url("/v1/sts/credentials"))
        .query(&[("access_token", token.as_str())])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // The header is there: the header path's real status.
    assert_eq!(sdk_error_as(both, 400, 400).await, "invalid_request");
    // A NUL byte is refused like on every route, but in the SDK's shape.
    let resp = app.get("/v1/sts/credentials?access_token=a%00b").await;
    assert_eq!(sdk_error(resp, 400).await, "invalid_query");
    assert_eq!(sts.calls(), 0);
}

#[tokio::test]
async fn the_route_is_404_while_sts_is_disabled() {
    let app = spawn_app_with(StoreKind::Sqlite, &[]).await;
    let resp = app.sts_by_query(&app.token_for("hank")).await;
    assert_eq!(sdk_error(resp, 404).await, "sts_disabled");
}

#[tokio::test]
async fn uploads_of_an_sts_profile_carry_credentials_for_their_one_key() {
    let sts = StsStandIn::start().await;
    let app = app_with(&sts, &[("APP__PROFILES__AVATAR__STS", "true")]).await;
    // An id outside the session-name alphabet: hashed into a valid RoleSessionName.
    let token = app.token_for("auth0|42");
    let c = app
        .issue(
            &token,
            json!({"profile": "avatar", "filename": "me.png", "content_type": "image/png", "size": 1000}),
        )
        .await;
    let key = c["key"].as_str().unwrap();
    assert!(key.starts_with("avatars/auth0~7C42/"), "{key}");
    let part = &c["sts"];
    assert_eq!(
        keys(part),
        BTreeSet::from([
            "AccessKeyId",
            "AccessKeySecret",
            "SecurityToken",
            "Expiration",
            "endpoint"
        ])
    );
    assert!(is_sdk_expiration(part["Expiration"].as_str().unwrap()));
    assert_eq!(part["endpoint"], "https://oss-cn-hangzhou.aliyuncs.com");
    // The callback maps are still there for setCallbackParam / setCallbackVars.
    assert!(c["callback_param"]["callbackBody"].as_str().is_some());

    let received = sts.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].resource, format!("acs:oss:*:*:demo-bucket/{key}"));
    // The avatar credential lives 900 s: STS's minimum, no longer.
    assert_eq!(received[0].duration_secs, 900);
    assert!(
        received[0].session_name.starts_with("auth042-"),
        "{:?}",
        received[0]
    );

    // Profiles without `sts = true` are unchanged.
    let video = app
        .issue(
            &token,
            json!({"profile": "video", "filename": "v.mp4", "content_type": "video/mp4", "size": 1000}),
        )
        .await;
    assert!(video.get("sts").is_none());
    assert_eq!(sts.calls(), 1);

    // STS trouble fails the issuance cleanly, in the standard error shape.
    sts.fail_with(Some((400, "Throttling.User")));
    let resp = app
        .post_json(
            "/v1/uploads",
            Some(&token),
            &json!({"profile": "avatar", "filename": "me.png", "content_type": "image/png", "size": 1000}),
        )
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(error_code(resp).await, "sts_throttled");
    assert!(sts.refused().is_empty(), "{:?}", sts.refused());
}
