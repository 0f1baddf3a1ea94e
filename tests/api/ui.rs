//! `/ui`: the read-only records page, signed in with an API key kept in a cookie.

use chrono::{Duration, Utc};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use upload_signer::store::{CompletedUpload, PendingUpload};

use crate::helpers::{completed_upload, spawn_app, StoreKind, TestApp};
use crate::on_both_stores;

on_both_stores!(the_page_shows_uploads_per_day_pending_rejected_and_the_spool);

fn completed(id: &str, size: i64, at: chrono::DateTime<Utc>) -> CompletedUpload {
    CompletedUpload {
        user_id: "user-1".into(),
        bucket: "b".into(),
        key: format!("avatars/{id}.png"),
        size,
        mime_type: Some("image/png".into()),
        issued_at: at - Duration::minutes(1),
        expires_at: at + Duration::minutes(30),
        completed_at: at,
        ..completed_upload(id)
    }
}

async fn sign_in(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .post(app.url("/ui/login"))
        .form(&[("api_key", key)])
        .send()
        .await
        .unwrap()
}

/// The `name=value` of the cookie a response sets.
fn set_cookie(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .unwrap()
        .to_string()
}

async fn page(app: &TestApp, query: &str, cookie: &str) -> (u16, String) {
    let resp = app
        .client
        .get(app.url(&format!("/ui{query}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The HTML of the `<section id="{id}">`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap()]
}

async fn the_page_shows_uploads_per_day_pending_rejected_and_the_spool(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let store = app.store();
    let now = Utc::now();
    store
        .record_completed(&completed("c-small", 100, now))
        .await
        .unwrap();
    store
        .record_completed(&completed("c-large", 2000, now))
        .await
        .unwrap();
    store
        .record_completed(&completed("c-yesterday", 7, now - Duration::days(1)))
        .await
        .unwrap();
    let mut marked = completed("c-markup", 1, now);
    marked.key = "avatars/<b>bold</b>.png".into();
    store.record_completed(&marked).await.unwrap();
    let mut rejected = completed("r-gif", 50, now);
    rejected.rejected = Some("content type image/gif is not allowed by the profile".into());
    store.record_completed(&rejected).await.unwrap();
    let pending = PendingUpload {
        upload_id: "p-waiting".into(),
        user_id: "user-2".into(),
        profile: "video".into(),
        bucket: "b".into(),
        key: "videos/p.mp4".into(),
        issued_at: now,
        expires_at: now + Duration::minutes(30),
        declared_size: 10,
    };
    store.insert_pending(&[pending]).await.unwrap();

    // Signed out: the sign-in form, uncached, under a policy that allows no script.
    let resp = app.get("/ui").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let csp = resp.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script"),
        "{csp}"
    );
    let form = resp.text().await.unwrap();
    assert!(
        form.contains("action=\"/ui/login\"") && !form.contains("c-small"),
        "{form}"
    );

    let key = app.api_key("uploads:read").await;
    let resp = sign_in(&app, &key).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/ui");
    let set = set_cookie(&resp);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("upload_signer_ui=usk_"), "{cookie}");

    let (status, html) = page(&app, "", &cookie).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains(&key), "the page never shows the key");
    let uploads = section(&html, "uploads");
    for id in ["c-small", "c-large", "c-yesterday", "c-markup"] {
        assert!(
            uploads.contains(&format!("data-upload-id=\"{id}\"")),
            "{id}: {uploads}"
        );
    }
    assert!(
        !uploads.contains("r-gif") && !uploads.contains("p-waiting"),
        "{uploads}"
    );
    assert!(uploads.contains("avatars/&lt;b&gt;bold&lt;/b&gt;.png") && !html.contains("<b>bold"));
    let rejected = section(&html, "rejected");
    assert!(
        rejected.contains("r-gif")
            && rejected.contains("content type image/gif is not allowed by the profile"),
        "{rejected}"
    );
    assert!(section(&html, "pending").contains("p-waiting"));
    // Today: 3 completed uploads of 2,101 bytes; yesterday: one of 7.
    let chart = section(&html, "per-day");
    let today = now.date_naive();
    let yesterday = today.pred_opt().unwrap();
    assert!(
        chart.contains(&format!("data-date=\"{today}\" data-value=\"3\"")),
        "{chart}"
    );
    assert!(
        chart.contains(&format!("data-date=\"{today}\" data-value=\"2101\"")),
        "{chart}"
    );
    assert!(
        chart.contains(&format!("data-date=\"{yesterday}\" data-value=\"1\"")),
        "{chart}"
    );
    assert_eq!(
        chart.matches("<rect class=\"bar\"").count(),
        30,
        "30 days of counts"
    );
    assert!(html.contains("<div id=\"spool-depth\"><b>0</b>"), "{html}");
    assert!(html.contains("<div id=\"pending-count\"><b>1</b>"), "{html}");

    // The records API's filters; an empty field is no filter.
    let (status, html) = page(&app, "?status=&profile=&min_size=1000&username=", &cookie).await;
    assert_eq!(status, 200, "{html}");
    let uploads = section(&html, "uploads");
    assert!(
        uploads.contains("c-large") && !uploads.contains("c-small"),
        "{uploads}"
    );
    let (_, html) = page(&app, "?status=rejected", &cookie).await;
    assert!(section(&html, "uploads").contains("r-gif"));
    let (status, html) = page(&app, "?completed_from=2026-12-04", &cookie).await;
    assert_eq!(status, 400);
    assert!(html.contains("completed_from: expected RFC 3339"), "{html}");
    assert!(
        html.contains("name=\"completed_from\" value=\"2026-12-04\""),
        "the form keeps what was typed"
    );

    // Paging: the `Older` link carries the filters and the cursor.
    let (_, html) = page(&app, "?limit=2", &cookie).await;
    let older = html.split("rel=\"next\" href=\"").nth(1).expect("an Older link");
    let older = older[..older.find('"').unwrap()].replace("&amp;", "&");
    assert!(older.starts_with("/ui?limit=2&cursor="), "{older}");
    let (status, html) = page(&app, &older["/ui".len()..], &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(section(&html, "uploads").matches("data-upload-id=").count(), 2);
}

#[tokio::test]
async fn signing_in_refuses_bad_keys_other_sites_and_revoked_keys() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let key = app.api_key("uploads:read").await;

    let resp = sign_in(&app, "usk_0123456789abcdef_nope").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("unknown, revoked or malformed API key"));
    let resp = sign_in(&app, &app.token_for("alice")).await;
    assert_eq!(resp.status(), 401, "an app user's token is no key");
    let resp = sign_in(&app, " ").await;
    assert_eq!(resp.status(), 400);

    // Login CSRF: a form posted from another site does not sign the browser in.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let resp = app
            .client
            .post(app.url("/ui/login"))
            .header(name, value)
            .form(&[("api_key", key.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{name}: {value}");
        assert!(resp.headers().get(SET_COOKIE).is_none());
    }
    let same_site = app
        .client
        .post(app.url("/ui/login"))
        .header("origin", app.address.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("api_key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 303);
    let cookie = set_cookie(&same_site).split(';').next().unwrap().to_string();
    assert_eq!(page(&app, "", &cookie).await.0, 200);

    // Signing out clears the cookie.
    let out = app.client.post(app.url("/ui/logout")).send().await.unwrap();
    assert_eq!(out.status(), 303);
    let cleared = set_cookie(&out);
    assert!(
        cleared.starts_with("upload_signer_ui=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // A revoked key stops working within `REMEMBER`, and the page clears it.
    let id = &key["usk_".len().."usk_".len() + 16];
    app.store().revoke_api_key(id, Utc::now()).await.unwrap();
    tokio::time::sleep(upload_signer::auth::api_keys::REMEMBER).await;
    let resp = app
        .client
        .get(app.url("/ui"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(set_cookie(&resp).contains("Max-Age=0"));
    assert!(resp.text().await.unwrap().contains("no longer valid"));
}
