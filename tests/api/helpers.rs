//! `spawn_app`: the real server on port 0 with a fresh database, and typed helpers.

use std::collections::HashMap;
use std::path::PathBuf;

use upload_signer::settings::Settings;
use upload_signer::startup::Application;

/// The Postgres server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(StoreKind)` once per store: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::StoreKind::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::helpers::StoreKind::Postgres).await
            }
        }
    )*};
}

/// A port nothing listens on right now (for a server started as its own process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A database that exists for one test and is dropped with it.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        name: String,
        url: String,
    },
    /// Another test app's database: used, not owned (not dropped).
    Borrowed {
        url: String,
    },
}

impl TestDb {
    pub async fn create(kind: StoreKind) -> TestDb {
        match kind {
            StoreKind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db", dir.path().display());
                TestDb::Sqlite { _dir: dir, url }
            }
            StoreKind::Postgres => {
                use sqlx::Connection;
                let name = format!("us_test_{}", uuid::Uuid::new_v4().simple());
                let admin = format!("{}/postgres", postgres_admin_url());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("Postgres must run on 127.0.0.1:5432 (see .ci/run)");
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = format!("{}/{name}", postgres_admin_url());
                TestDb::Postgres { name, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } | TestDb::Borrowed { url } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime: do the async work on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        use sqlx::Connection;
                        let admin = format!("{}/postgres", postgres_admin_url());
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub fn config_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
}

/// Without the emulator a test has no bucket: the objects its callbacks describe exist nowhere,
/// so the content check (a ranged GET per completion, tested in emulator.rs) is off.
pub const NO_BUCKET: [(&str, &str); 3] = [
    ("APP__PROFILES__AVATAR__CHECK_CONTENT", "false"),
    ("APP__PROFILES__CHAT-IMAGE__CHECK_CONTENT", "false"),
    ("APP__PROFILES__VIDEO__CHECK_CONTENT", "false"),
];

/// Settings as a test starts the server with: defaults plus `overrides` (env-style keys).
pub fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("APP__SERVER__PORT".into(), "0".into());
    env.insert("APP__SERVER__WORKERS".into(), "2".into());
    // The OSS emulator keeps files in its data dir: tests that want it pass their own (emulator.rs).
    env.insert("APP__EMULATOR__ENABLED".into(), "false".into());
    if !overrides.contains(&("APP__EMULATOR__ENABLED", "true")) {
        env.extend(NO_BUCKET.map(|(k, v)| (k.to_string(), v.to_string())));
    }
    // `local` turns STS on against the emulator; tests that want it say so.
    env.insert("APP__STS__ENABLED".into(), "false".into());
    env.insert("DATABASE_URL".into(), database_url.into());
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    Settings::load(&config_dir(), &env).expect("test settings load")
}

pub struct TestApp {
    /// Data directory of this server (spool); removed with the app.
    pub _data_dir: tempfile::TempDir,
    pub address: String,
    #[allow(dead_code)]
    pub port: u16,
    /// The OSS emulator's port, when the test enabled it.
    #[allow(dead_code)]
    pub emulator_port: Option<u16>,
    pub client: reqwest::Client,
    pub db: TestDb,
}

pub async fn spawn_app(kind: StoreKind) -> TestApp {
    spawn_app_with(kind, &[]).await
}

pub async fn spawn_app_with(kind: StoreKind, overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDb::create(kind).await, overrides).await
}

/// A second instance on the database of `first` (as several production instances share one).
pub async fn spawn_instance_beside(first: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    let db = TestDb::Borrowed {
        url: first.db.url().to_string(),
    };
    spawn_app_on(db, overrides).await
}

async fn spawn_app_on(db: TestDb, overrides: &[(&str, &str)]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("data dir");
    let spool = data_dir.path().join("spool");
    let spool = spool.to_str().expect("utf-8 path");
    let mut all: Vec<(&str, &str)> = vec![
        ("APP__CALLBACK__SPOOL_DIR", spool),
        ("APP__CALLBACK__SPOOL_REPLAY_INTERVAL_MS", "100"),
    ];
    all.extend_from_slice(overrides);
    let settings = test_settings(db.url(), &all);
    // `TEST_LOG=1 cargo nextest run ...` shows the server's logs.
    if std::env::var_os("TEST_LOG").is_some() {
        upload_signer::telemetry::init(&settings.log, settings.env);
    }
    let app = Application::build(settings).await.expect("application builds");
    let port = app.port();
    let emulator_port = app.emulator_port();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        _data_dir: data_dir,
        address: format!("http://127.0.0.1:{port}"),
        port,
        emulator_port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Names of the tables the server created in its database.
    pub async fn table_names(&self) -> Vec<String> {
        match self.db {
            TestDb::Sqlite { .. } => {
                let pool = sqlx::SqlitePool::connect(self.db.url())
                    .await
                    .expect("open test db");
                let sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name";
                let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&pool).await.expect("list tables");
                rows.into_iter().map(|r| r.0).collect()
            }
            TestDb::Postgres { .. } | TestDb::Borrowed { .. } => {
                let pool = sqlx::PgPool::connect(self.db.url()).await.expect("open test db");
                let sql = "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1";
                let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&pool).await.expect("list tables");
                pool.close().await;
                rows.into_iter().map(|r| r.0).collect()
            }
        }
    }
}

impl TestApp {
    /// Runs `statements` on the server's database, in order, outside the store (to set up a state
    /// only an older release could have left).
    pub async fn execute(&self, statements: &[&str]) {
        match self.db {
            TestDb::Sqlite { .. } => {
                let pool = sqlx::SqlitePool::connect(self.db.url())
                    .await
                    .expect("open test db");
                for sql in statements {
                    sqlx::query(sql).execute(&pool).await.expect(sql);
                }
                pool.close().await;
            }
            TestDb::Postgres { .. } | TestDb::Borrowed { .. } => {
                let pool = sqlx::PgPool::connect(self.db.url()).await.expect("open test db");
                for sql in statements {
                    sqlx::query(sql).execute(&pool).await.expect(sql);
                }
                pool.close().await;
            }
        }
    }

    /// The server's store, opened beside it (reads what the server recorded).
    pub fn store(&self) -> upload_signer::store::DynStore {
        self.store_at(self.db.url())
    }

    /// A new API key with `scope`, as `api-key create` makes one; returns the secret.
    pub async fn api_key(&self, scope: &str) -> String {
        let (record, key) =
            upload_signer::auth::api_keys::generate("tests", &[scope.to_string()]).expect("API key");
        self.store()
            .insert_api_key(&record)
            .await
            .expect("API key stored");
        key
    }

    /// A store at `url`, for a server started on a database other than its own `db`.
    pub fn store_at(&self, url: &str) -> upload_signer::store::DynStore {
        let settings = test_settings(url, &[]);
        upload_signer::store::open(&settings.database).expect("open store")
    }
}

/// Asserts the standard error shape and returns its code.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    let code = body["error"]["code"].as_str().expect("error.code").to_string();
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    code
}

/// The development secrets the test server runs with (config defaults outside production).
pub const DEV_OSS_SECRET: &str = "dev-only-oss-access-key-secret";
pub const DEV_OSS_KEY_ID: &str = "LTAI-local-development";

impl TestApp {
    /// An access token for `user_id`, minted with the server's own (development) key.
    pub fn token_for(&self, user_id: &str) -> String {
        let settings = test_settings(self.db.url(), &[]);
        let tokens = upload_signer::auth::AccessTokens::from_settings(&settings).expect("token keys");
        tokens.issue(user_id, chrono::Utc::now()).expect("token").0
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request sent")
    }

    /// Uploads `body` with a credential's presigned PUT, sending the headers it lists.
    pub async fn put_object(&self, credential: &serde_json::Value, body: Vec<u8>) -> reqwest::Response {
        let mut put = self
            .client
            .put(credential["put"]["url"].as_str().expect("put.url"))
            .body(body);
        for (name, value) in credential["put"]["headers"].as_object().expect("put.headers") {
            put = put.header(name, value.as_str().expect("header value"));
        }
        put.send().await.expect("request sent")
    }

    /// Registers a built-in account and returns its user id.
    pub async fn register(&self, username: &str) -> String {
        let resp = self
            .post_json(
                "/v1/auth/register",
                None,
                &serde_json::json!({"username": username, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let body: serde_json::Value = resp.json().await.expect("JSON body");
        body["user_id"].as_str().expect("user_id").to_string()
    }

    /// Issues a credential and returns the 201 body.
    pub async fn issue(&self, token: &str, body: serde_json::Value) -> serde_json::Value {
        let resp = self.post_json("/v1/uploads", Some(token), &body).await;
        let status = resp.status();
        let json: serde_json::Value = resp.json().await.expect("JSON body");
        assert_eq!(status, 201, "{json}");
        json
    }
}

/// A completed upload as a callback would report it, for tests that write the store or the spool
/// directly.
pub fn completed_upload(upload_id: &str) -> upload_signer::store::CompletedUpload {
    let now = chrono::Utc::now();
    upload_signer::store::CompletedUpload {
        upload_id: upload_id.into(),
        user_id: "u1".into(),
        profile: "avatar".into(),
        bucket: "demo-bucket".into(),
        key: format!("avatars/u1/{upload_id}.jpg"),
        size: 1,
        etag: None,
        mime_type: Some("image/jpeg".into()),
        image_width: None,
        image_height: None,
        image_format: None,
        vars: serde_json::Map::new(),
        client_ip: None,
        oss_request_id: None,
        source: upload_signer::store::UploadSource::Callback,
        issued_at: now,
        expires_at: now,
        completed_at: now,
        rejected: None,
    }
}

/// `base` with OSS sub-resources as its query: `uploads`, `partNumber=1&uploadId=...` (a
/// parameter without a value is written bare, as the SDKs send it).
pub fn with_sub_resources(base: String, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return base;
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_string()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// The text of the first `<name>` element of an OSS XML answer.
pub fn xml_element<'a>(doc: &'a str, name: &str) -> &'a str {
    doc.split(&format!("<{name}>"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("</{name}>")).next())
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}
