//! The operator's view: metrics.

use serde_json::json;

use crate::helpers::{spawn_app_with, StoreKind, TestApp};
use crate::oss_stand_in::{ObjectFacts, OssStandIn};

/// The value of one sample line, e.g. `upload_signer_callbacks_total{outcome="recorded"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    resp.text().await.unwrap()
}

#[tokio::test]
async fn metrics_move_with_traffic() {
    let oss = OssStandIn::start().await;
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", oss.prefix.as_str())],
    )
    .await;
    let before = scrape(&app).await;
    let issued = r#"upload_signer_credentials_issued_total{profile="avatar",version="v4"}"#;
    assert_eq!(sample(&before, issued), None);

    let token = app.token_for("alice");
    let body = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});
    let credential = app.issue(&token, body.clone()).await;
    app.issue(&token, body).await;
    let callback = oss.callback_for(&credential, &ObjectFacts::default());
    assert_eq!(callback.send(&app).await.status(), 200);
    assert_eq!(callback.send(&app).await.status(), 200);
    let mut forged = oss.callback_for(&credential, &ObjectFacts::default());
    forged.body.push(' ');
    assert_eq!(forged.send(&app).await.status(), 403);

    let after = scrape(&app).await;
    assert_eq!(sample(&after, issued), Some(2.0));
    assert_eq!(
        sample(&after, r#"upload_signer_callbacks_total{outcome="recorded"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, r#"upload_signer_callbacks_total{outcome="repeated"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"upload_signer_callbacks_total{outcome="invalid_signature"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"upload_signer_callback_public_key_total{result="fetch"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, r#"upload_signer_callback_public_key_total{result="hit"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"upload_signer_http_requests_total{method="POST",route="/v1/uploads",status="201"}"#
        ),
        Some(2.0)
    );
    assert!(after.contains("upload_signer_http_request_duration_seconds_bucket"));
    assert_eq!(sample(&after, "upload_signer_spool_depth"), Some(0.0));
    // One of the two credentials was never used: the ledger holds it as pending.
    let mut pending = None;
    for _ in 0..40 {
        pending = sample(&scrape(&app).await, "upload_signer_pending_uploads");
        if pending == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending, Some(1.0));
    assert!(sample(&after, "upload_signer_oldest_pending_upload_age_seconds").is_some());
    assert!(sample(&after, r#"upload_signer_db_pool_connections{state="idle"}"#).is_some());
}

#[tokio::test]
async fn the_served_contract_is_the_committed_file() {
    let app = crate::helpers::spawn_app(StoreKind::Sqlite).await;
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let served = app.get("/openapi.yaml").await.text().await.unwrap();
    assert_eq!(served, committed, "rebuild: the server embeds openapi.yaml");
    let json: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(json["openapi"], "3.1.0");
}

/// `/docs` is Redoc, served from the binary: the page loads the vendored bundle and the contract
/// from this server only, and its CSP forbids anything else.
#[tokio::test]
async fn the_docs_page_runs_the_vendored_bundle_from_this_server() {
    let app = crate::helpers::spawn_app(StoreKind::Sqlite).await;
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self';"),
        "{csp}"
    );
    assert!(!csp.contains("http"), "{csp}");
    let html = docs.text().await.unwrap();
    assert!(html.contains("<redoc spec-url=\"/openapi.json\""), "{html}");
    let src = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script tag");
    assert!(src.starts_with("/docs/redoc.standalone.js?v="), "{src}");
    let bundle = app.get(src).await;
    assert_eq!(bundle.status(), 200);
    assert_eq!(bundle.headers()["content-type"], "text/javascript; charset=utf-8");
    let vendored = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/ops/redoc/redoc.standalone.js"
    ))
    .unwrap();
    assert_eq!(bundle.bytes().await.unwrap().as_ref(), vendored.as_slice());
}

/// Redoc shows only operations whose tag is declared and sits in an `x-tagGroups` group: an
/// operation tagged otherwise exists but is missing from /docs.
#[test]
fn every_operation_tag_is_declared_and_grouped() {
    let spec: serde_json::Value = serde_norway::from_str(upload_signer::ops::OPENAPI_YAML).unwrap();
    let names = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let declared: Vec<String> = spec["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let grouped: Vec<String> = spec["x-tagGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| names(&g["tags"]))
        .collect();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tags = names(&op["tags"]);
            assert!(!tags.is_empty(), "{method} {path} has no tag");
            for tag in tags {
                assert!(
                    declared.contains(&tag),
                    "{method} {path}: tag {tag} is not declared"
                );
                assert!(
                    grouped.contains(&tag),
                    "{method} {path}: tag {tag} is in no x-tagGroups group"
                );
            }
        }
    }
}

/// Every documented operation exists on the server and answers, without credentials or a
/// body, with one of its documented statuses (never "no such route").
#[tokio::test]
async fn every_documented_route_exists_and_answers_as_documented() {
    let app = crate::helpers::spawn_app(StoreKind::Sqlite).await;
    let spec: serde_json::Value = serde_norway::from_str(upload_signer::ops::OPENAPI_YAML).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let url = app.url(&path.replace("{upload_id}", "nope"));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app.client.request(method.clone(), &url).send().await.unwrap();
            let status = resp.status().as_u16().to_string();
            let documented = op["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&status),
                "{method} {path} answered {status}, documented: {:?}",
                documented.keys()
            );
            if status == "404" {
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                assert_ne!(body["error"]["code"], "route_not_found", "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
}

#[tokio::test]
async fn cors_admits_only_configured_origins() {
    let app = spawn_app_with(
        StoreKind::Sqlite,
        &[("APP__SERVER__CORS_ALLOWED_ORIGINS", "https://app.example.com")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/uploads"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// With `ops.metrics_addr`, `/metrics` is served there only, not beside the API.
#[tokio::test]
async fn metrics_can_live_on_their_own_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let app = spawn_app_with(StoreKind::Sqlite, &[("APP__OPS__METRICS_ADDR", addr.as_str())]).await;
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(crate::helpers::error_code(resp).await, "route_not_found");
    assert_eq!(app.get("/healthz").await.status(), 200);

    let scraped = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains(r#"upload_signer_http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "the API's traffic is counted: {text}"
    );
    let other = app
        .client
        .get(format!("http://{addr}/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics on the metrics port");
}
