//! Times in a SQLite file written before one form was chosen: the migration makes filters and
//! pages right again.

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};

use super::SqliteStore;
use crate::settings::DatabaseSettings;
use crate::store::records::{PageCursor, RecordStore, UploadFilter};
use crate::store::{migrations, Store, UploadStatus};

/// The form migration `20261203410000` rewrites into.
const FORM: &str = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z";

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&DatabaseSettings {
        url: format!("sqlite://{}/t.db", dir.path().display()),
        max_connections: 2,
        connect_timeout_secs: 5,
        write_timeout_ms: 1000,
        probe_interval_ms: 1000,
    })
    .unwrap()
}

/// How sqlx 0.8's chrono encoding wrote a time (0, 3, 6 or 9 digits, `+00:00`).
fn sqlx_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// How the accounts were written (six digits, `Z`).
fn accounts_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn insert_completed(store: &SqliteStore, id: &str, completed_at: String) {
    sqlx::query(
        "INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, source, size, vars,
             issued_at, expires_at, completed_at)
         VALUES ($1, 'u1', 'avatar', 'b', $1, 'completed', 'callback', 1, '{}', $2, $2, $3)",
    )
    .bind(id)
    .bind(&completed_at)
    .bind(&completed_at)
    .execute(store.pool())
    .await
    .unwrap();
}

fn ids(records: &[crate::store::UploadRecord]) -> Vec<&str> {
    records.iter().map(|r| r.upload_id.as_str()).collect()
}

#[tokio::test]
async fn times_of_every_older_form_filter_and_page_in_time_order_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    migrations::SQLITE
        .before("20261203410000")
        .migrator()
        .await
        .unwrap()
        .run(store.pool())
        .await
        .unwrap();
    let t = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 1).unwrap();
    // The same second at every precision sqlx wrote, and the accounts' form.
    insert_completed(&store, "a-whole", sqlx_text(t)).await;
    insert_completed(&store, "b-milli", sqlx_text(t + Duration::milliseconds(500))).await;
    insert_completed(&store, "c-micro", sqlx_text(t + Duration::microseconds(500_001))).await;
    insert_completed(
        &store,
        "d-nano",
        sqlx_text(t + Duration::nanoseconds(999_999_999)),
    )
    .await;
    insert_completed(&store, "e-next", accounts_text(t + Duration::seconds(1))).await;
    insert_completed(&store, "f-before", sqlx_text(t - Duration::microseconds(1))).await;
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, created_at) VALUES ('u1', 'alice', 'x', $1)",
    )
    .bind(accounts_text(t))
    .execute(store.pool())
    .await
    .unwrap();

    store.migrate().await.unwrap();

    // `[t, t + 1s)`: the boundary row written without a fraction is in, the next second is out.
    let filter = UploadFilter {
        status: Some(UploadStatus::Completed),
        completed_from: Some(t),
        completed_to: Some(t + Duration::seconds(1)),
        ..UploadFilter::default()
    };
    let page = store.query_uploads(&filter, None, 10).await.unwrap();
    assert_eq!(ids(&page), ["d-nano", "c-micro", "b-milli", "a-whole"]);
    assert_eq!(page[0].username.as_deref(), Some("alice"));

    // Pages of two, newest first, through every form.
    let all = UploadFilter {
        status: Some(UploadStatus::Completed),
        ..UploadFilter::default()
    };
    let mut seen = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    loop {
        let page = store.query_uploads(&all, cursor.as_ref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(PageCursor {
            completed_at: all.time_of(last),
            upload_id: last.upload_id.clone(),
        });
        seen.extend(page.iter().map(|r| r.upload_id.clone()));
    }
    assert_eq!(
        seen,
        ["e-next", "d-nano", "c-micro", "b-milli", "a-whole", "f-before"]
    );

    // And the text itself is in the one form.
    let not_in_form: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM uploads WHERE issued_at NOT GLOB '{FORM}' OR completed_at NOT GLOB '{FORM}'"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(not_in_form, 0);
    let completed: String = sqlx::query_scalar("SELECT completed_at FROM uploads WHERE upload_id = 'd-nano'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(completed, "2026-12-03T10:00:01.999999Z");
}

#[tokio::test]
async fn every_write_stores_every_time_in_the_one_form() {
    use crate::store::webhooks::{AttemptResult, WebhookAttempt, WebhookEndpoint};
    use crate::store::{
        ApiKeyRecord, ApiKeyStore, CompletedUpload, PendingUpload, RefreshToken, UploadSource, UploadStore,
        User, UserStore, WebhookStore,
    };

    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.migrate().await.unwrap();
    // Odd precisions: whole seconds, nanoseconds.
    let t = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
    let ns = t + Duration::nanoseconds(123_456_789);

    store
        .create_user(&User {
            id: "u1".into(),
            username: "alice".into(),
            password_hash: "x".into(),
            disabled: false,
            created_at: t,
        })
        .await
        .unwrap();
    let token = RefreshToken {
        token_hash: "h".into(),
        family_id: "f".into(),
        user_id: "u1".into(),
        issued_at: t,
        expires_at: ns,
        used_at: None,
        revoked_at: None,
    };
    store.insert_refresh_token(&token).await.unwrap();
    store.mark_refresh_token_used("h", ns).await.unwrap();
    store.revoke_refresh_family("f", t).await.unwrap();

    let key = ApiKeyRecord {
        id: "k".into(),
        name: "n".into(),
        secret_hash: "s".into(),
        scopes: vec!["uploads:read".into()],
        created_at: ns,
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&key).await.unwrap();
    store.touch_api_key("k", t).await.unwrap();
    store.revoke_api_key("k", ns).await.unwrap();

    // Enabled before the uploads below, so that their events are queued for fan-out.
    store
        .insert_endpoint(&WebhookEndpoint {
            id: "w".into(),
            url: "https://example.com".into(),
            description: String::new(),
            event_types: vec![],
            profiles: vec![],
            secret: "whsec_x".into(),
            previous_secret: Some("whsec_y".into()),
            previous_secret_until: Some(ns),
            enabled: true,
            disabled_reason: None,
            failing_since: Some(t),
            created_at: t,
            updated_at: ns,
        })
        .await
        .unwrap();
    store
        .insert_pending(&[PendingUpload {
            upload_id: "p".into(),
            user_id: "u1".into(),
            profile: "avatar".into(),
            bucket: "b".into(),
            key: "p".into(),
            issued_at: t,
            expires_at: ns,
            declared_size: 1,
        }])
        .await
        .unwrap();
    assert_eq!(
        store
            .lease_expired_pending(Utc::now(), 10, 60, "me")
            .await
            .unwrap()
            .len(),
        1
    );
    let done = CompletedUpload {
        upload_id: "c".into(),
        user_id: "u1".into(),
        profile: "avatar".into(),
        bucket: "b".into(),
        key: "c".into(),
        size: 1,
        etag: Some("e1".into()),
        mime_type: None,
        image_width: None,
        image_height: None,
        image_format: None,
        vars: serde_json::Map::new(),
        client_ip: None,
        oss_request_id: None,
        source: UploadSource::Callback,
        issued_at: t,
        expires_at: ns,
        completed_at: ns,
        rejected: None,
    };
    let previous = store.record_completed(&done).await.unwrap().record().clone();
    let newer = CompletedUpload {
        etag: Some("e2".into()),
        completed_at: t + Duration::seconds(1),
        ..done.clone()
    };
    assert!(store.replace_object(&newer, &previous).await.unwrap().is_some());

    let events = store.unfanned_events(10).await.unwrap();
    let fan: Vec<(String, Vec<String>)> = events.iter().map(|e| (e.id.clone(), vec!["w".into()])).collect();
    store.fan_out(&fan, ns).await.unwrap();
    let due = store
        .lease_due(Utc::now(), 1, Utc::now() + Duration::seconds(30), "me")
        .await
        .unwrap();
    let attempt = WebhookAttempt {
        event_id: due[0].event_id.clone(),
        attempt: 1,
        attempted_at: ns,
        status_code: Some(500),
        latency_ms: 1,
        outcome: "retrying".into(),
        error: None,
    };
    assert!(store
        .finish_attempt("me", &due[0], &attempt, &AttemptResult::RetryAt(ns))
        .await
        .unwrap());
    // The lease stays on the delivery it was not finished for.
    store
        .lease_due(
            Utc::now() + Duration::days(1),
            10,
            Utc::now() + Duration::days(2),
            "me",
        )
        .await
        .unwrap();

    // Every time column of every table, found by name.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND (p.name LIKE '%\\_at' ESCAPE '\\' OR p.name LIKE '%\\_until' ESCAPE '\\'
             OR p.name LIKE '%\\_since' ESCAPE '\\')",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(columns.len() >= 20, "{columns:?}");
    for (table, column) in columns {
        let (written, in_form): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT({column}), COUNT(CASE WHEN {column} GLOB '{FORM}' THEN 1 END) FROM {table}"
        ))
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(written > 0, "{table}.{column} was never written by this test");
        assert_eq!(written, in_form, "{table}.{column}");
    }
}

/// Two processes starting on a new database file at once (the service and a CLI command) each
/// migrate it; without a lock both applied the first migrations and one failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_of_a_new_file_both_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(&dir), open(&dir));
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        assert!(ra.is_ok() && rb.is_ok(), "{ra:?} {rb:?}");
    }
}
