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
    assert!(sample(&after, r#"upload_signer_db_pool_connections{state="idle"}"#).is_some());
}
