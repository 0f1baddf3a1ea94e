//! `POST /v1/uploads` and `POST /v1/uploads/sign`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use upload_signer::signing;

use crate::helpers::{error_code, spawn_app, StoreKind, TestApp, DEV_OSS_KEY_ID, DEV_OSS_SECRET};
use crate::on_both_stores;

on_both_stores!(
    v4_profile_gets_a_complete_signed_form,
    v1_profile_gets_v1_signatures,
    custom_variables_follow_the_profile,
    bad_requests_get_precise_codes,
    custom_signer_signs_only_the_users_own_issued_put,
);

fn field<'a>(credential: &'a Value, name: &str) -> &'a str {
    credential["form"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("form field {name} missing"))["value"]
        .as_str()
        .unwrap()
}

fn field_names(credential: &Value) -> Vec<String> {
    credential["form"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

fn decode_json(b64: &str) -> Value {
    serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap()
}

async fn v4_profile_gets_a_complete_signed_form(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let token = app.token_for("alice");
    let c = app
        .issue(
            &token,
            json!({"profile": "avatar", "filename": "Me at the beach.JPG", "content_type": "image/jpeg", "size": 123456}),
        )
        .await;
    let upload_id = c["upload_id"].as_str().unwrap();
    assert_eq!(upload_id.len(), 32);
    let key = c["key"].as_str().unwrap();
    assert!(
        key.starts_with("avatars/alice/") && key.ends_with(&format!("{upload_id}.jpg")),
        "{key}"
    );
    assert_eq!(c["bucket"], "demo-bucket");
    assert_eq!(c["region"], "cn-hangzhou");
    assert_eq!(c["host"], "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com");
    assert_eq!(c["signature_version"], "v4");
    assert_eq!(c["form"]["file_field"], "file");
    assert_eq!(
        field_names(&c),
        [
            "key",
            "policy",
            "x-oss-signature-version",
            "x-oss-credential",
            "x-oss-date",
            "x-oss-signature",
            "success_action_status",
            "Content-Type",
            "callback",
            "x-oss-forbid-overwrite"
        ]
    );
    assert_eq!(field(&c, "key"), key);

    // The policy pins everything the client must not change.
    let policy_b64 = field(&c, "policy");
    let policy = decode_json(policy_b64);
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(conditions.contains(&json!({"bucket": "demo-bucket"})));
    assert!(conditions.contains(&json!(["eq", "$key", key])));
    assert!(conditions.contains(&json!(["content-length-range", 1, 123456])));
    assert!(conditions.contains(&json!(["eq", "$Content-Type", "image/jpeg"])));
    assert!(conditions.contains(&json!({"callback": c["callback"]})));
    // An issued form never replaces an object, and the field cannot be left out.
    assert!(conditions.contains(&json!({"x-oss-forbid-overwrite": "true"})));
    assert_eq!(field(&c, "x-oss-forbid-overwrite"), "true");
    assert_eq!(c["put"]["headers"]["x-oss-forbid-overwrite"], "true");
    assert!(conditions.contains(&json!({"x-oss-date": field(&c, "x-oss-date")})));
    assert!(conditions.contains(&json!({"x-oss-credential": field(&c, "x-oss-credential")})));
    assert!(field(&c, "x-oss-credential").starts_with(&format!("{DEV_OSS_KEY_ID}/")));
    assert!(field(&c, "x-oss-credential").ends_with("/cn-hangzhou/oss/aliyun_v4_request"));

    // The signature is the V4 one over the base64 policy.
    let date = chrono::NaiveDateTime::parse_from_str(field(&c, "x-oss-date"), "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let expected = signing::v4::post_signature(DEV_OSS_SECRET, policy_b64, date, "cn-hangzhou");
    assert_eq!(field(&c, "x-oss-signature"), expected);

    // Callback: the SDK map and the base64 field say the same, and carry our token.
    let callback = decode_json(c["callback"].as_str().unwrap());
    assert_eq!(callback["callbackUrl"], c["callback_param"]["callbackUrl"]);
    assert_eq!(callback["callbackBody"], c["callback_param"]["callbackBody"]);
    assert_eq!(c["callback_param"]["callbackBodyType"], "application/json");
    assert_eq!(
        c["callback_param"]["callbackUrl"],
        format!("http://127.0.0.1:{}/v1/oss/callback", app.port)
    );
    let body = c["callback_param"]["callbackBody"].as_str().unwrap();
    assert!(
        body.contains("${object}") && body.contains("\"token\":\"v1."),
        "{body}"
    );
    assert!(c.get("callback_var").is_none());

    // Presigned PUT: V4 query signature carrying the callback, Content-Type to send.
    let put_url = c["put"]["url"].as_str().unwrap();
    assert!(put_url.starts_with(&format!(
        "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com/{key}?callback="
    )));
    assert!(
        put_url.contains("x-oss-signature-version=OSS4-HMAC-SHA256") && put_url.contains("x-oss-signature=")
    );
    assert_eq!(c["put"]["headers"]["Content-Type"], "image/jpeg");
    assert!(
        !c.to_string().contains(DEV_OSS_SECRET),
        "the secret never leaves the server"
    );
}

async fn v1_profile_gets_v1_signatures(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let token = app.token_for("bob");
    let c = app
        .issue(
            &token,
            json!({"profile": "video", "filename": "clip.mp4", "content_type": "video/mp4", "size": 5000}),
        )
        .await;
    assert_eq!(c["signature_version"], "v1");
    assert_eq!(field(&c, "OSSAccessKeyId"), DEV_OSS_KEY_ID);
    let policy = field(&c, "policy");
    assert_eq!(
        field(&c, "Signature"),
        signing::v1::post_signature(DEV_OSS_SECRET, policy)
    );
    // V1 forms carry no V4 fields; forbid-overwrite is the one OSS header every form carries.
    assert!(!field_names(&c)
        .iter()
        .any(|n| n.starts_with("x-oss-") && n != "x-oss-forbid-overwrite"));
    assert_eq!(
        c["callback_param"]["callbackBodyType"],
        "application/x-www-form-urlencoded"
    );
    let put_url = c["put"]["url"].as_str().unwrap();
    assert!(
        put_url.contains("OSSAccessKeyId=")
            && put_url.contains("&Expires=")
            && put_url.contains("&callback=")
    );
}

async fn custom_variables_follow_the_profile(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let token = app.token_for("carol");
    let c = app
        .issue(
            &token,
            json!({"profile": "chat-image", "filename": "a.png", "content_type": "image/png", "size": 10,
                   "vars": {"caption": "sunset 🌅", "conversation_id": "c-9"}}),
        )
        .await;
    assert_eq!(
        c["callback_vars"],
        json!({"x:caption": "sunset 🌅", "x:conversation_id": "c-9"})
    );
    assert_eq!(
        decode_json(c["callback_var"].as_str().unwrap()),
        c["callback_vars"]
    );
    assert_eq!(field(&c, "x:caption"), "sunset 🌅");
    let body = c["callback_param"]["callbackBody"].as_str().unwrap();
    assert!(
        body.contains("${x:caption}") && body.contains("${x:conversation_id}"),
        "{body}"
    );

    let too_long = json!({"profile": "chat-image", "filename": "a.png", "content_type": "image/png", "size": 10,
                          "vars": {"caption": "x".repeat(201)}});
    let resp = app.post_json("/v1/uploads", Some(&token), &too_long).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(error_code(resp).await, "variable_too_long");
    let unknown = json!({"profile": "chat-image", "filename": "a.png", "content_type": "image/png", "size": 10,
                         "vars": {"admin": "yes"}});
    let resp = app.post_json("/v1/uploads", Some(&token), &unknown).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(error_code(resp).await, "variable_not_allowed");
}

async fn bad_requests_get_precise_codes(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let token = app.token_for("dave");
    let base = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});
    let cases = [
        ("profile", json!("nope"), 422, "unknown_profile"),
        (
            "content_type",
            json!("application/x-msdownload"),
            422,
            "content_type_not_allowed",
        ),
        (
            "content_type",
            json!("image/gif"),
            422,
            "content_type_not_allowed",
        ),
        ("size", json!(0), 422, "invalid_size"),
        ("size", json!(-5), 422, "invalid_size"),
        ("size", json!(5_242_881), 422, "size_too_large"),
        ("filename", json!(""), 422, "invalid_filename"),
        ("filename", json!("a\u{7}b.jpg"), 422, "invalid_filename"),
        ("filename", json!("x".repeat(1500)), 422, "invalid_filename"),
        ("size", json!("big"), 400, "invalid_json"),
        ("unexpected", json!(1), 400, "invalid_json"),
    ];
    for (name, value, status, code) in cases {
        let mut body = base.clone();
        body[name] = value;
        let resp = app.post_json("/v1/uploads", Some(&token), &body).await;
        assert_eq!(resp.status(), status, "{name}");
        assert_eq!(error_code(resp).await, code, "{name}");
    }
    let resp = app.post_json("/v1/uploads", None, &base).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(error_code(resp).await, "missing_token");
    let resp = app.post_json("/v1/uploads", Some("not-a-jwt"), &base).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "invalid_token");
}

/// The V1 string-to-sign an OSS SDK builds for `PUT` with the callback headers.
fn sdk_string_to_sign(c: &Value, key: &str, date: &str, content_type: &str) -> String {
    let mut headers = vec![
        ("x-oss-callback", c["callback"].as_str().unwrap()),
        ("x-oss-forbid-overwrite", "true"),
    ];
    if let Some(vars) = c["callback_var"].as_str() {
        headers.push(("x-oss-callback-var", vars));
    }
    signing::StringToSign {
        method: "PUT",
        content_md5: "",
        content_type,
        date,
        oss_headers: &headers,
        bucket: Some("demo-bucket"),
        key,
        sub_resources: &[],
    }
    .build()
}

async fn sign_request(app: &TestApp, token: &str, content: &str) -> reqwest::Response {
    app.post_json("/v1/uploads/sign", Some(token), &json!({ "content": content }))
        .await
}

async fn custom_signer_signs_only_the_users_own_issued_put(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let alice = app.token_for("alice");
    let mallory = app.token_for("mallory");
    let c = app
        .issue(
            &alice,
            json!({"profile": "chat-image", "filename": "a.png", "content_type": "image/png", "size": 10,
                   "vars": {"caption": "hi"}}),
        )
        .await;
    let key = c["key"].as_str().unwrap();
    let date = chrono::Utc::now().to_rfc2822().replace("+0000", "GMT");
    let content = sdk_string_to_sign(&c, key, &date, "image/png");

    let resp = sign_request(&app, &alice, &content).await;
    assert_eq!(resp.status(), 200);
    let signed: Value = resp.json().await.unwrap();
    let expected = signing::v1::sign(DEV_OSS_SECRET, &content);
    assert_eq!(signed["signature"], expected);
    assert_eq!(
        signed["authorization"],
        format!("OSS {DEV_OSS_KEY_ID}:{expected}")
    );

    // Another user cannot get alice's upload signed.
    let resp = sign_request(&app, &mallory, &content).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "sign_refused");

    // Nor can alice sign another key, a disallowed type, or a swapped callback.
    let other_key = sdk_string_to_sign(&c, "chat/mallory/x.png", &date, "image/png");
    let wrong_type = sdk_string_to_sign(&c, key, &date, "text/html");
    let mut swapped = c.clone();
    let mut cb = decode_json(c["callback"].as_str().unwrap());
    cb["callbackUrl"] = json!("https://evil.example/steal");
    swapped["callback"] = json!(STANDARD.encode(cb.to_string()));
    let swapped = sdk_string_to_sign(&swapped, key, &date, "image/png");
    let get = content.replacen("PUT", "GET", 1);
    let no_callback = format!("PUT\n\nimage/png\n{date}\n/demo-bucket/{key}");
    // Without `x-oss-forbid-overwrite: true` the signature could replace a recorded object.
    let overwriting = content.replace("x-oss-forbid-overwrite:true\n", "");
    assert_ne!(overwriting, content);
    for bad in [
        overwriting,
        other_key,
        wrong_type,
        swapped,
        get,
        no_callback,
        "garbage".to_string(),
    ] {
        let resp = sign_request(&app, &alice, &bad).await;
        assert_eq!(resp.status(), 403, "{bad}");
        assert_eq!(error_code(resp).await, "sign_refused");
    }
}

/// `image/*` does not admit scriptable SVG, and the key's extension follows the content type the
/// policy enforces, not the filename.
#[tokio::test]
async fn wildcards_exclude_svg_and_keys_take_the_content_types_extension() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let alice = app.token_for("alice");
    let svg =
        json!({"profile": "chat-image", "filename": "x.svg", "content_type": "image/svg+xml", "size": 10});
    let resp = app.post_json("/v1/uploads", Some(&alice), &svg).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(error_code(resp).await, "content_type_not_allowed");
    for (filename, content_type, ext) in [
        ("evil.html", "image/png", ".png"),
        ("photo", "image/webp", ".webp"),
        ("beach.JPEG", "image/jpeg", ".jpeg"),
        ("beach.png", "image/jpeg", ".jpg"),
    ] {
        let c = app
            .issue(
                &alice,
                json!({"profile": "chat-image", "filename": filename, "content_type": content_type, "size": 10}),
            )
            .await;
        let key = c["key"].as_str().unwrap();
        let upload_id = c["upload_id"].as_str().unwrap();
        assert!(
            key.ends_with(&format!("/{upload_id}{ext}")),
            "{filename} as {content_type}: {key}"
        );
    }
}

fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc2822().replace("+0000", "GMT")
}

/// A `Date` more than 5 minutes off is refused, and so is one OSS would still accept after the
/// credential has expired (OSS takes a request up to 15 minutes after its `Date`).
#[tokio::test]
async fn custom_signer_signs_no_date_that_outlives_the_credential() {
    use chrono::{Duration, Utc};
    let app = spawn_app(StoreKind::Sqlite).await;
    let alice = app.token_for("alice");
    let long = app
        .issue(
            &alice,
            json!({"profile": "chat-image", "filename": "a.png", "content_type": "image/png", "size": 10}),
        )
        .await;
    let long_key = long["key"].as_str().unwrap();
    for (offset, code) in [
        (-6, "date_out_of_range"),
        (6, "date_out_of_range"),
        (-20, "date_out_of_range"),
    ] {
        let date = http_date(Utc::now() + Duration::minutes(offset));
        let resp = sign_request(
            &app,
            &alice,
            &sdk_string_to_sign(&long, long_key, &date, "image/png"),
        )
        .await;
        assert_eq!(resp.status(), 403, "{offset}");
        assert_eq!(error_code(resp).await, code);
    }
    let date = http_date(Utc::now() + Duration::minutes(4));
    let resp = sign_request(
        &app,
        &alice,
        &sdk_string_to_sign(&long, long_key, &date, "image/png"),
    )
    .await;
    assert_eq!(
        resp.status(),
        200,
        "within 5 minutes, the credential outlives Date + 15 min"
    );

    // `avatar` credentials live 15 minutes: a Date after their issue would let OSS accept the
    // request after they expire; one before it does not.
    let short = app
        .issue(
            &alice,
            json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": 10}),
        )
        .await;
    let short_key = short["key"].as_str().unwrap();
    let date = http_date(Utc::now() + Duration::minutes(1));
    let resp = sign_request(
        &app,
        &alice,
        &sdk_string_to_sign(&short, short_key, &date, "image/png"),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "credential_expires_too_soon");
    let date = http_date(Utc::now() - Duration::minutes(2));
    let resp = sign_request(
        &app,
        &alice,
        &sdk_string_to_sign(&short, short_key, &date, "image/png"),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn issuance_is_rate_limited_per_user() {
    let app = crate::helpers::spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("APP__ISSUANCE__RATE_PER_MINUTE", "60"),
            ("APP__ISSUANCE__BURST", "2"),
        ],
    )
    .await;
    let body = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});
    let alice = app.token_for("alice");
    app.issue(&alice, body.clone()).await;
    app.issue(&alice, body.clone()).await;
    let resp = app.post_json("/v1/uploads", Some(&alice), &body).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(error_code(resp).await, "rate_limited");
    app.issue(&app.token_for("bob"), body).await;
}
