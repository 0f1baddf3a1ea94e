//! Nothing lost under faults: a `201` survives SIGKILL during an outage, callbacks never wait on
//! a dead database, and two instances on one Postgres record each upload exactly once. Outages
//! are made with a TCP proxy in front of a database of the test's own, never by stopping the
//! shared server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use upload_signer::store::{DynStore, UploadStatus};

use crate::helpers::{config_dir, free_port, spawn_app_with, test_settings, StoreKind, TestApp, TestDb};
use crate::tcp_proxy::TcpProxy;

/// A Postgres database of the test's own, migrated, and a proxy in front of it.
async fn database_behind_a_proxy() -> (TestDb, TcpProxy, String, DynStore) {
    let db = TestDb::create(StoreKind::Postgres).await;
    let target = url::Url::parse(db.url()).unwrap();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", target.port().unwrap_or(5432))).await;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}{}", proxy.port, target.path());
    let store = upload_signer::store::open(&test_settings(db.url(), &[]).database).unwrap();
    store.migrate().await.unwrap();
    (db, proxy, via_proxy, store)
}

async fn pending_rows(store: &DynStore) -> i64 {
    store.pending_summary().await.unwrap().0
}

/// The release binary as an operator runs it (its own process, so that it can be SIGKILLed).
pub(crate) struct Service {
    child: tokio::process::Child,
    pub(crate) base: String,
}

/// The binary with the environment an operator would give it; `extra` wins.
pub(crate) fn command(
    dir: &std::path::Path,
    database_url: &str,
    extra: &[(&str, &str)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_upload-signer"));
    command
        .current_dir(dir)
        .env_clear()
        .env("APP_CONFIG_DIR", config_dir())
        .env("DATABASE_URL", database_url)
        .env("APP__DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .env("APP__CALLBACK__SPOOL_DIR", dir.join("spool"))
        .env("APP__CALLBACK__SPOOL_REPLAY_INTERVAL_MS", "100")
        .env("APP__ISSUANCE__RATE_PER_MINUTE", "0")
        .env("APP__EMULATOR__ENABLED", "false")
        .env("RUST_LOG", "warn")
        .envs(crate::helpers::NO_BUCKET);
    for (k, v) in extra {
        command.env(k, v);
    }
    command
}

impl Service {
    async fn start(dir: &std::path::Path, database_url: &str, port: u16) -> Service {
        Self::start_with(dir, database_url, port, &[]).await
    }

    pub(crate) async fn start_with(
        dir: &std::path::Path,
        database_url: &str,
        port: u16,
        extra: &[(&str, &str)],
    ) -> Service {
        let child = command(dir, database_url, extra)
            .env("APP__SERVER__PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Service { child, base }
    }

    pub(crate) async fn sigterm(mut self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let exited = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        assert!(exited.expect("stops after SIGTERM").unwrap().success());
    }

    async fn sigkill(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL on Unix: no shutdown code runs
        self.child.wait().await.unwrap();
    }
}

fn token(user: &str) -> String {
    let settings = test_settings("sqlite://unused.db", &[]);
    upload_signer::auth::AccessTokens::from_settings(&settings)
        .unwrap()
        .issue(user, chrono::Utc::now())
        .unwrap()
        .0
}

/// A `201` means the ledger entry is durable: 300 credentials issued while the database is away,
/// then SIGKILL (or SIGTERM), then a restart once the database is back: all 300 are pending.
#[tokio::test]
async fn credentials_issued_during_an_outage_survive_sigkill() {
    issued_during_an_outage_survive(Stop::Kill).await
}

#[tokio::test]
async fn credentials_issued_during_an_outage_survive_sigterm() {
    issued_during_an_outage_survive(Stop::Term).await
}

enum Stop {
    Kill,
    Term,
}

async fn issued_during_an_outage_survive(stop: Stop) {
    let (_db, proxy, via_proxy, store) = database_behind_a_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    proxy.cut();
    let port = free_port();
    let service = Service::start(dir.path(), &via_proxy, port).await;
    let client = reqwest::Client::new();
    let token = token("alice");
    let body = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});
    let issued: Vec<String> = futures_util::future::join_all((0..300).map(|_| {
        let (client, token, body, url) = (
            client.clone(),
            token.clone(),
            body.clone(),
            format!("{}/v1/uploads", service.base),
        );
        async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["upload_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }))
    .await;
    assert_eq!(issued.len(), 300);
    match stop {
        Stop::Kill => service.sigkill().await,
        Stop::Term => service.sigterm().await,
    }
    assert_eq!(
        pending_rows(&store).await,
        0,
        "nothing reached the database during the outage"
    );

    proxy.restore();
    let service = Service::start(dir.path(), &via_proxy, port).await;
    let mut pending = 0;
    for _ in 0..100 {
        pending = pending_rows(&store).await;
        if pending == 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        pending, 300,
        "every issued credential is in the ledger after the restart"
    );
    for id in issued.iter().take(5) {
        assert_eq!(store.get_upload(id).await.unwrap().status, UploadStatus::Pending);
    }
    // The service knows each of them: a confirmation goes on to ask the bucket (unreachable
    // here, so 502) instead of answering 404 `upload_not_found`.
    let resp = client
        .post(format!("{}/v1/uploads/{}/complete", service.base, issued[0]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 404);
    service.sigkill().await;
}

/// The service with its emulator, on a Postgres database reached through `database_url`.
async fn app_with_emulator(data: &tempfile::TempDir, database_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let dir = data.path().display().to_string();
    let mut overrides = vec![
        ("DATABASE_URL", database_url),
        ("APP__DATABASE__CONNECT_TIMEOUT_SECS", "1"),
        ("APP__EMULATOR__ENABLED", "true"),
        ("APP__EMULATOR__PORT", "0"),
        ("APP__EMULATOR__DATA_DIR", dir.as_str()),
        ("APP__ISSUANCE__RATE_PER_MINUTE", "0"),
    ];
    overrides.extend_from_slice(extra);
    spawn_app_with(StoreKind::Sqlite, &overrides).await
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n outage test";

/// Issues a credential and uploads with its presigned PUT: the emulator stores the object and
/// makes the callback. Returns the upload id, the PUT's status and how long the PUT took.
async fn upload(app: &TestApp, token: &str) -> (String, u16, Duration) {
    let body =
        json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": PNG.len()});
    let credential = app.issue(token, body).await;
    let started = Instant::now();
    let resp = app.put_object(&credential, PNG.to_vec()).await;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    let id = credential["upload_id"].as_str().unwrap().to_string();
    if status == 200 {
        assert_eq!(
            answer["upload_id"],
            id.as_str(),
            "the callback's answer reaches the app"
        );
    }
    (id, status, elapsed)
}

/// Uploads at a steady rate while the database is away for 20 s: every upload gets its
/// callback answer (none `203`), fast, and each is recorded exactly once after recovery.
#[tokio::test]
async fn callbacks_during_a_database_outage_never_wait_for_it() {
    let (_db, proxy, via_proxy, store) = database_behind_a_proxy().await;
    let data = tempfile::tempdir().unwrap();
    let app = std::sync::Arc::new(app_with_emulator(&data, &via_proxy, &[]).await);
    let token = app.token_for("alice");
    upload(&app, &token).await; // warm: key fetched, pool open

    let mut uploads = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let started = Instant::now();
    let (cut_at, restore_at, end_at) = (
        Duration::from_secs(2),
        Duration::from_secs(22),
        Duration::from_secs(25),
    );
    let mut cut = false;
    while started.elapsed() < end_at {
        tick.tick().await;
        let now = started.elapsed();
        if !cut && now >= cut_at {
            proxy.cut();
            cut = true;
        }
        if cut && now >= restore_at {
            proxy.restore();
        }
        let during = now >= cut_at && now < restore_at;
        let (app, token) = (app.clone(), token.clone());
        uploads.spawn(async move { (during, upload(&app, &token).await) });
    }
    let results: Vec<(bool, (String, u16, Duration))> = uploads.join_all().await;
    let mut during: Vec<Duration> = results.iter().filter(|r| r.0).map(|r| r.1 .2).collect();
    during.sort();
    let refused: Vec<_> = results.iter().filter(|r| r.1 .1 != 200).collect();
    assert!(
        refused.is_empty(),
        "every upload got its callback answer: {refused:?}"
    );
    assert!(during.len() >= 150, "uploads during the outage: {}", during.len());
    let p99 = during[during.len() * 99 / 100 - 1];
    eprintln!(
        "uploads during the outage: {}, p50 {:?}, p99 {:?}, max {:?}",
        during.len(),
        during[during.len() / 2],
        p99,
        during[during.len() - 1]
    );
    assert!(p99 < Duration::from_millis(500), "p99 during the outage: {p99:?}");

    // After recovery every upload is recorded once, completed, with its size.
    let mut recorded = 0;
    for _ in 0..150 {
        recorded = store.count_uploads().await.unwrap();
        let spool =
            app.get("/readyz").await.json::<Value>().await.unwrap()["checks"]["spool"]["depth"].clone();
        if recorded == results.len() as i64 + 1 && spool == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recorded, results.len() as i64 + 1, "one row per upload");
    for (_, (id, _, _)) in &results {
        let record = store.get_upload(id).await.unwrap();
        assert_eq!(record.status, UploadStatus::Completed, "{id}");
        assert_eq!(record.size, Some(PNG.len() as i64));
    }
}

/// Two instances on one Postgres behind a round-robin proxy: the emulator's callbacks and the
/// app's confirmations race across both, and each upload is recorded once with one answer.
#[tokio::test]
async fn two_instances_record_each_upload_once() {
    let db = TestDb::create(StoreKind::Postgres).await;
    let balancer = TcpProxy::round_robin(vec![]).await;
    let callback_url = format!("http://127.0.0.1:{}/v1/oss/callback", balancer.port);
    let data = tempfile::tempdir().unwrap();
    let a = app_with_emulator(&data, db.url(), &[("APP__CALLBACK__URL", &callback_url)]).await;
    let emulator = format!("http://127.0.0.1:{}", a.emulator_port.unwrap());
    let key_prefix = format!("{emulator}/_emulator/");
    let b = spawn_app_with(
        StoreKind::Sqlite,
        &[
            ("DATABASE_URL", db.url()),
            ("APP__CALLBACK__URL", &callback_url),
            ("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", &key_prefix),
            ("APP__PROFILES__AVATAR__ENDPOINT", &emulator),
            ("APP__PROFILES__AVATAR__PATH_STYLE", "true"),
            ("APP__ISSUANCE__RATE_PER_MINUTE", "0"),
        ],
    )
    .await;
    balancer.set_targets(vec![
        format!("127.0.0.1:{}", a.port),
        format!("127.0.0.1:{}", b.port),
    ]);
    let token = a.token_for("alice");
    let body =
        json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": PNG.len()});

    let uploads = (0..30).map(|i| {
        let (a, b, token, body) = (&a, &b, token.clone(), body.clone());
        async move {
            let issuer = if i % 2 == 0 { a } else { b };
            let credential = issuer.issue(&token, body).await;
            let id = credential["upload_id"].as_str().unwrap().to_string();
            let put = async {
                let resp = a.put_object(&credential, PNG.to_vec()).await;
                assert_eq!(resp.status(), 200);
                resp.text().await.unwrap()
            };
            let confirm = |app: &TestApp| {
                let req = app
                    .client
                    .post(app.url(&format!("/v1/uploads/{id}/complete")))
                    .bearer_auth(&token);
                async move {
                    loop {
                        let resp = req.try_clone().unwrap().send().await.unwrap();
                        match resp.status().as_u16() {
                            200 => return resp.text().await.unwrap(),
                            409 => tokio::time::sleep(Duration::from_millis(5)).await,
                            other => panic!("confirmation answered {other}"),
                        }
                    }
                }
            };
            let (from_callback, at_a, at_b) = tokio::join!(put, confirm(a), confirm(b));
            assert_eq!(at_a, from_callback, "one answer for {id}");
            assert_eq!(at_b, from_callback, "one answer for {id}");
            id
        }
    });
    let ids = futures_util::future::join_all(uploads).await;
    let store = a.store_at(db.url());
    assert_eq!(
        store.count_uploads().await.unwrap(),
        ids.len() as i64,
        "one row per upload"
    );
    for id in &ids {
        assert_eq!(
            store.get_upload(id).await.unwrap().status,
            UploadStatus::Completed
        );
    }
}

/// `upload-signer reconcile` in `local` reaches the emulator that `serve` runs (not the real OSS
/// host), and exits non-zero when an upload could not be examined, so a scheduler notices.
#[tokio::test]
async fn the_reconcile_command_reaches_the_emulator_and_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/app.db", dir.path().display());
    let emulator_port = free_port().to_string();
    let emulator_dir = dir.path().join("emulator").display().to_string();
    let env = [
        ("APP_ENV", "local"),
        ("APP__EMULATOR__ENABLED", "true"),
        ("APP__EMULATOR__PORT", emulator_port.as_str()),
        ("APP__EMULATOR__DATA_DIR", emulator_dir.as_str()),
        ("APP__RECONCILE__ENABLED", "false"),
        ("APP__RECONCILE__GRACE_SECS", "-86400"),
        // Nothing listens on port 1: the callback fails, the upload stays pending.
        ("APP__CALLBACK__URL", "http://127.0.0.1:1/v1/oss/callback"),
    ];
    let service = Service::start_with(dir.path(), &db, free_port(), &env).await;
    let client = reqwest::Client::new();
    let token = token("alice");
    let issue = || async {
        let body =
            json!({"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": PNG.len()});
        let resp = client
            .post(format!("{}/v1/uploads", service.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().await.unwrap()
    };
    let uploaded = issue().await;
    let mut put = client
        .put(uploaded["put"]["url"].as_str().unwrap())
        .body(PNG.to_vec());
    for (name, value) in uploaded["put"]["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    assert_eq!(
        put.send().await.unwrap().status(),
        203,
        "callback failed, object stored"
    );

    let pass = command(dir.path(), &db, &env)
        .arg("reconcile")
        .output()
        .await
        .unwrap();
    assert!(pass.status.success(), "{}", String::from_utf8_lossy(&pass.stderr));
    let report: Value = serde_json::from_slice(&pass.stdout).unwrap();
    assert_eq!(report["completed"], 1, "{report}");
    assert_eq!(report["errors"], 0, "{report}");

    // With the emulator gone, an upload cannot be examined: the command says so and fails.
    issue().await;
    service.sigkill().await;
    let pass = command(dir.path(), &db, &env)
        .arg("reconcile")
        .output()
        .await
        .unwrap();
    assert!(!pass.status.success(), "exit status {:?}", pass.status);
    let report: Value = serde_json::from_slice(&pass.stdout).unwrap();
    assert_eq!(report["errors"], 1, "{report}");
}

/// Two instances on one Postgres behind a round-robin proxy, under load: one is SIGKILLed
/// midway and started again. Every credential answered `201` is in the ledger and every
/// callback answered `200` is recorded, once.
#[tokio::test]
async fn a_sigkilled_instance_loses_nothing_it_answered() {
    let db = TestDb::create(StoreKind::Postgres).await;
    let store = upload_signer::store::open(&test_settings(db.url(), &[]).database).unwrap();
    store.migrate().await.unwrap();
    let oss = std::sync::Arc::new(crate::oss_stand_in::OssStandIn::start().await);
    let prefix = oss.prefix.clone();
    let env = [("APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES", prefix.as_str())];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let a = Service::start_with(dir_a.path(), db.url(), port_a, &env).await;
    let b = Service::start_with(dir_b.path(), db.url(), port_b, &env).await;
    let balancer =
        TcpProxy::round_robin(vec![format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}")]).await;
    let base = format!("http://127.0.0.1:{}", balancer.port);
    let token = token("alice");
    let body = json!({"profile": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10});

    // Each upload: a credential, then its callback, each on a fresh connection (so the balancer
    // alternates). Answers that never came (the killed instance's) promise nothing.
    let mut uploads = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut a = Some(a);
    for i in 0..400 {
        tick.tick().await;
        if i == 200 {
            a.take().unwrap().sigkill().await;
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let (base, token, body, oss) = (base.clone(), token.clone(), body.clone(), oss.clone());
        uploads.spawn(async move {
            let issued = client
                .post(format!("{base}/v1/uploads"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await;
            let Ok(issued) = issued.filter_status(201) else {
                return (None, false);
            };
            let credential: Value = issued.json().await.unwrap();
            let id = credential["upload_id"].as_str().unwrap().to_string();
            let answered = matches!(
                oss.callback_for(&credential, &crate::oss_stand_in::ObjectFacts::default())
                    .send_to(&client, &base)
                    .await,
                Ok(resp) if resp.status() == 200
            );
            (Some(id), answered)
        });
    }
    let results = uploads.join_all().await;
    let _a = Service::start_with(dir_a.path(), db.url(), port_a, &env).await;
    let issued: Vec<&String> = results.iter().filter_map(|r| r.0.as_ref()).collect();
    let recorded: Vec<&String> = results
        .iter()
        .filter(|r| r.1)
        .filter_map(|r| r.0.as_ref())
        .collect();
    // Only that the run did something: half the requests after the kill meet the dead instance,
    // and on a busy machine more of the first half are still in flight when it dies.
    assert!(
        issued.len() > 200 && recorded.len() > 120,
        "{} issued, {} recorded",
        issued.len(),
        recorded.len()
    );
    // A credential committed just before the kill but never answered may add a row (it ends
    // abandoned); none answered may be missing.
    let rows = store.count_uploads().await.unwrap();
    let unanswered = results.iter().filter(|r| r.0.is_none()).count() as i64;
    assert!(
        (issued.len() as i64..=issued.len() as i64 + unanswered).contains(&rows),
        "{rows} rows for {} 201s and {unanswered} unanswered",
        issued.len()
    );
    for id in &issued {
        store.get_upload(id).await.expect("every 201 is in the ledger");
    }
    for id in &recorded {
        assert_eq!(
            store.get_upload(id).await.unwrap().status,
            UploadStatus::Completed,
            "{id}"
        );
    }
    drop(b);
}

/// The answer if it has this status; anything else (refused connection included) as an error.
trait FilterStatus {
    fn filter_status(self, status: u16) -> Result<reqwest::Response, ()>;
}

impl FilterStatus for reqwest::Result<reqwest::Response> {
    fn filter_status(self, status: u16) -> Result<reqwest::Response, ()> {
        match self {
            Ok(resp) if resp.status() == status => Ok(resp),
            _ => Err(()),
        }
    }
}
