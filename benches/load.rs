//! Load benchmark: the release server binary against a fresh Postgres database, driven over
//! loopback by a load generator in this process.
//!
//! `cargo bench --bench load` runs three workloads and prints, for each, requests, duration,
//! throughput, latency percentiles, errors and the server's peak RSS:
//!
//! 1. `issue`: `POST /v1/uploads` with access tokens of many distinct users;
//! 2. `callback`: distinct OSS callbacks, RSA-signed before timing starts, each verified and
//!    recorded; afterwards the number of records must equal the number of callbacks sent;
//! 3. `records page` / `records stats`: `GET /v1/records/uploads` (a filtered page of 100) and
//!    `GET /v1/records/stats` over a table of a million uploads; pages also from one connection
//!    alone (`page, 1 conn.`), the query's latency without queueing.
//!
//! Knobs (environment variables, defaults in brackets): `BENCH_CONCURRENCY` [64],
//! `BENCH_DURATION_SECS` [10, the cap of each timed run], `BENCH_ISSUE_REQUESTS` [200000],
//! `BENCH_USERS` [10000], `BENCH_CALLBACKS` [20000], `BENCH_RECORDS` [1000000],
//! `BENCH_RECORDS_CONCURRENCY` [8: backend dashboards, not 64 phones; and 64 pages of 100
//! records in flight cannot each finish in 10 ms on two cores], `BENCH_PAGE_REQUESTS` [20000], `BENCH_STATS_REQUESTS` [2000], `BENCH_CLIENT_THREADS` [1],
//! `BENCH_SERVER_WORKERS` [0: one per core], `BENCH_DB_CONNECTIONS` [server default],
//! `BENCH_LOG_LEVEL` [warn], `BENCH_SERVER_LOG` [0: the server's stderr is discarded], `BENCH_PG_TLS` [0: the server talks to the loopback Postgres
//! without TLS; 1: as the URL says, which with sqlx means TLS if the server offers it], `BENCH_ONLY` [all: comma list of issue,callback,records; or `soak`, see `load/soak.rs`],
//! `BENCH_POSTGRES_URL` [postgres://postgres@127.0.0.1:5432], `BENCH_GENERATOR` [builtin: this
//! process sends the requests; `wrk`: wrk does (`load/wrk.rs`, installed if missing); `both`],
//! `BENCH_SERVER_BIN` [the release binary cargo built: another build's binary, for back-to-back
//! A/B runs], `BENCH_SERVER_CONFIG_DIR` [this checkout's `config/`: that build's own, when its
//! settings differ], `BENCH_SERVER_WRAPPER` [none: a command the server runs under, split on spaces, e.g.
//! `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p`; the server is then given 300 s to
//! start and stopped with SIGTERM so the tool writes its output].
//!
//! Timing assertions live here, never in the test suite: this prints and checks only
//! correctness (statuses, records not lost).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use upload_signer::settings::Settings;
use upload_signer::signing::{self, CallbackBodyType};

#[path = "load/soak.rs"]
mod soak;
#[path = "load/wrk.rs"]
mod wrk;
// The tests' database proxy, for the soak's outage; the bench uses part of it.
#[allow(dead_code)]
#[path = "../tests/api/tcp_proxy.rs"]
mod tcp_proxy;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_upload-signer");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

/// Who sends the requests: this process (hyper, cheap) or `wrk`, a tool anyone can run.
#[derive(Clone, Copy, PartialEq)]
enum Generator {
    Builtin,
    Wrk,
}

impl Generator {
    /// The workload's name in the table, marked when wrk sent it.
    fn label(self, workload: &str) -> String {
        match self {
            Generator::Builtin => workload.to_string(),
            Generator::Wrk => format!("{workload} (wrk)"),
        }
    }
}

struct Knobs {
    generators: Vec<Generator>,
    concurrency: usize,
    duration: Duration,
    issue_requests: usize,
    users: usize,
    callbacks: usize,
    records: usize,
    records_concurrency: usize,
    page_requests: usize,
    stats_requests: usize,
    client_threads: usize,
    server_workers: usize,
    db_connections: Option<u32>,
    log_level: String,
    pg_tls: bool,
    server_log: bool,
    server_bin: String,
    server_config_dir: PathBuf,
    server_wrapper: Vec<String>,
    only: Vec<String>,
    postgres: String,
}

impl Knobs {
    fn from_env() -> Knobs {
        Knobs {
            concurrency: knob("BENCH_CONCURRENCY", 64),
            duration: Duration::from_secs_f64(knob("BENCH_DURATION_SECS", 10.0)),
            issue_requests: knob("BENCH_ISSUE_REQUESTS", 200_000),
            users: knob("BENCH_USERS", 10_000),
            callbacks: knob("BENCH_CALLBACKS", 20_000),
            records: knob("BENCH_RECORDS", 1_000_000),
            records_concurrency: knob("BENCH_RECORDS_CONCURRENCY", 8),
            page_requests: knob("BENCH_PAGE_REQUESTS", 20_000),
            stats_requests: knob("BENCH_STATS_REQUESTS", 2_000),
            client_threads: knob("BENCH_CLIENT_THREADS", 1),
            server_workers: knob("BENCH_SERVER_WORKERS", 0),
            db_connections: std::env::var("BENCH_DB_CONNECTIONS")
                .ok()
                .map(|v| v.parse().expect("BENCH_DB_CONNECTIONS is a number")),
            log_level: std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
            pg_tls: knob("BENCH_PG_TLS", 0) == 1,
            server_log: knob("BENCH_SERVER_LOG", 0) == 1,
            server_bin: std::env::var("BENCH_SERVER_BIN").unwrap_or_else(|_| SERVER_BIN.into()),
            server_config_dir: std::env::var_os("BENCH_SERVER_CONFIG_DIR")
                .map_or_else(config_dir, PathBuf::from),
            server_wrapper: std::env::var("BENCH_SERVER_WRAPPER")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            only: std::env::var("BENCH_ONLY")
                .unwrap_or_else(|_| "issue,callback,records".into())
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
            generators: Knobs::generators(),
            postgres: std::env::var("BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
        }
    }

    /// `BENCH_GENERATOR`: `builtin` [default], `wrk`, or `both` (each workload once with each).
    fn generators() -> Vec<Generator> {
        match std::env::var("BENCH_GENERATOR").as_deref().unwrap_or("builtin") {
            "builtin" => vec![Generator::Builtin],
            "wrk" => vec![Generator::Wrk],
            "both" => vec![Generator::Builtin, Generator::Wrk],
            other => panic!("BENCH_GENERATOR={other:?}: expected builtin, wrk or both"),
        }
    }

    fn runs(&self, workload: &str) -> bool {
        self.only.iter().any(|w| w == workload)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter here.
    let knobs = Knobs::from_env();
    let runtime = if knobs.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(knobs.client_threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let db = runtime.block_on(BenchDb::create(&knobs.postgres));
    let outcome = runtime.block_on(run(&knobs, &db));
    drop(runtime);
    drop(db);
    if let Err(err) = outcome {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

async fn run(knobs: &Knobs, db: &BenchDb) -> anyhow::Result<()> {
    let key_server = KeyServer::start().await;
    let data_dir = tempfile::tempdir()?;
    if knobs.runs("soak") {
        // A server of its own, behind a proxy it can cut; not mixed with the timed workloads.
        return soak::soak(knobs, db, &key_server, data_dir.path()).await;
    }
    let server = Server::start(knobs, db, &key_server, data_dir.path()).await?;
    println!(
        "upload-signer load benchmark: server pid {}, {} concurrent connections, load average {}",
        server.pid,
        knobs.concurrency,
        load_average()
    );
    println!("{}", Report::header());

    if knobs.generators.contains(&Generator::Wrk) {
        wrk::ensure_installed()?;
    }
    for &generator in &knobs.generators {
        if knobs.runs("issue") {
            issuance(knobs, &server, generator).await?;
        }
        if knobs.runs("callback") {
            callbacks(knobs, &server, &key_server, db, generator).await?;
        }
    }
    if knobs.runs("records") {
        records(knobs, &server, db).await?;
    }
    // What the server gives back once the load is gone (mimalloc returns freed pages lazily).
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!(
        "server RSS idle 5 s after the last workload: {}",
        server
            .rss_kb()
            .map_or("?".to_string(), |kb| format!("{:.1} MB", kb as f64 / 1024.0))
    );
    println!("load average at the end: {}", load_average());
    server.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Workloads

const PROFILES: &[(&str, &str, &str)] = &[
    ("chat-image", "beach.jpg", "image/jpeg"),
    ("chat-image", "screenshot.png", "image/png"),
    ("avatar", "me.webp", "image/webp"),
    ("video", "clip.mp4", "video/mp4"),
];

fn upload_body(i: usize) -> Value {
    let (profile, filename, content_type) = PROFILES[i % PROFILES.len()];
    let mut body = json!({
        "profile": profile,
        "filename": filename,
        "content_type": content_type,
        "size": 10_000 + (i * 7919) % 1_000_000,
    });
    if profile == "chat-image" {
        body["vars"] = json!({ "caption": format!("photo {i}"), "conversation_id": format!("c{}", i % 97) });
    }
    body
}

/// One `POST /v1/uploads` per user, round robin over `users` distinct users.
fn issue_requests(server: &Server, users: usize) -> anyhow::Result<Vec<Prepared>> {
    let tokens = upload_signer::auth::AccessTokens::from_settings(&server.settings)?;
    let now = chrono::Utc::now();
    (0..users)
        .map(|i| {
            let (token, _) = tokens
                .issue(&format!("bench-user-{i:06}"), now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(Prepared::post_json(
                "/v1/uploads",
                &format!("Bearer {token}"),
                &upload_body(i),
            ))
        })
        .collect()
}

async fn issuance(knobs: &Knobs, server: &Server, generator: Generator) -> anyhow::Result<()> {
    let requests = issue_requests(server, knobs.users)?;
    let run = LoadRun {
        requests: Arc::new(requests),
        expect: StatusCode::CREATED,
        max_requests: knobs.issue_requests,
        max_duration: knobs.duration,
        concurrency: knobs.concurrency,
        keep_bodies: false,
    };
    let result = run.drive_measured(server, generator).await?;
    Report::new(&generator.label("issue"), &result, server).print();
    Ok(())
}

async fn callbacks(
    knobs: &Knobs,
    server: &Server,
    oss: &KeyServer,
    db: &BenchDb,
    generator: Generator,
) -> anyhow::Result<()> {
    let before = db.completed_count().await?;
    // Untimed set-up: one credential per callback, then the callbacks OSS would send for them.
    let issue = LoadRun {
        requests: Arc::new(issue_requests(server, knobs.callbacks)?),
        expect: StatusCode::CREATED,
        max_requests: knobs.callbacks,
        max_duration: Duration::from_secs(600),
        concurrency: knobs.concurrency,
        keep_bodies: true,
    };
    let issued = issue.drive(server.addr).await;
    anyhow::ensure!(
        issued.errors == 0,
        "issuing credentials for callbacks failed: {}",
        issued.first_error
    );
    let credentials: Vec<Value> = issued
        .bodies
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let signed = sign_callbacks(oss, credentials);
    eprintln!(
        "  (signed {} callbacks in {:.1} s before timing)",
        signed.len(),
        started.elapsed().as_secs_f64()
    );
    let sent = signed.len();
    let run = LoadRun {
        requests: Arc::new(signed),
        expect: StatusCode::OK,
        max_requests: sent,
        // Every callback must be sent: the count check below depends on it.
        max_duration: Duration::from_secs(600),
        concurrency: knobs.concurrency,
        keep_bodies: false,
    };
    // From the server's own counter: counting rows every 20 ms would cost Postgres more than
    // the callbacks being measured.
    let recorded_before = server.callbacks_recorded().await;
    let all_recorded = async {
        while server.callbacks_recorded().await - recorded_before < sent as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let result = run
        .drive_measured_until(server, generator, Some(all_recorded))
        .await?;
    Report::new(&generator.label("callback"), &result, server).print();
    if result.requests > sent {
        // Sent by a wrk thread while it stopped after its share.
        println!(
            "  ({} of the answers were to a callback sent a second time)",
            result.requests - sent
        );
    }
    // What the spool took while the database was slow is recorded once it is replayed.
    let drained = Instant::now() + Duration::from_secs(60);
    while server.spool_depth().await != "0" && Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recorded = db.completed_count().await? - before;
    let spooled = server.spool_depth().await;
    println!(
        "  callbacks sent {sent}, answered 200 {}, records added {recorded}, spooled {spooled}: {}",
        result.requests.min(sent) - result.errors,
        if recorded as usize == sent {
            "none lost"
        } else {
            "RECORDS MISSING"
        }
    );
    anyhow::ensure!(
        recorded as usize == sent,
        "{sent} callbacks sent but {recorded} records added"
    );
    Ok(())
}

/// Renders and RSA-signs, exactly as OSS would, the callback for each credential; on all cores.
fn sign_callbacks(oss: &KeyServer, credentials: Vec<Value>) -> Vec<Prepared> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = credentials.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = credentials
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, cred)| oss.signed_callback(cred, c * chunk + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

async fn records(knobs: &Knobs, server: &Server, db: &BenchDb) -> anyhow::Result<()> {
    let started = Instant::now();
    db.load_records(knobs.records).await?;
    eprintln!(
        "  (loaded {} records and analysed in {:.1} s before timing)",
        knobs.records,
        started.elapsed().as_secs_f64()
    );
    let api_key = server.create_api_key().await?;
    let auth = format!("Bearer {api_key}");

    // Filtered pages: one profile, one content type, a 30-day window sliding over the half year
    // the records span.
    let filters = [
        ("chat-image", "image/jpeg"),
        ("chat-image", "image/png"),
        ("avatar", "image/*"),
        ("video", "video/mp4"),
    ];
    let now = chrono::Utc::now();
    let window = |i: usize| {
        let to = now - chrono::Duration::days((i % 150) as i64);
        let from = to - chrono::Duration::days(30);
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        (fmt(from), fmt(to))
    };
    let pages: Vec<Prepared> = (0..600)
        .map(|i| {
            let (profile, content_type) = filters[i % filters.len()];
            let (from, to) = window(i);
            let path = format!(
                "/v1/records/uploads?profile={profile}&content_type={}&completed_from={from}&completed_to={to}&limit=100",
                content_type.replace('/', "%2F").replace('*', "%2A")
            );
            Prepared::get(&path, &auth)
        })
        .collect();
    // One dashboard alone (the query's own latency), then `records_concurrency` of them sharing
    // the two cores (the target's run).
    let pages = Arc::new(pages);
    for &generator in &knobs.generators {
        for (name, concurrency) in [("page, 1 conn.", 1), ("records page", knobs.records_concurrency)] {
            let run = LoadRun {
                requests: pages.clone(),
                expect: StatusCode::OK,
                max_requests: knobs.page_requests,
                max_duration: knobs.duration,
                concurrency,
                keep_bodies: false,
            };
            let result = run.drive_measured(server, generator).await?;
            Report::new(&generator.label(name), &result, server).print();
        }
    }

    // Stats: per day over a 30-day window of one profile, the dashboard's usual question.
    let stats: Vec<Prepared> = (0..600)
        .map(|i| {
            let (profile, _) = filters[i % filters.len()];
            let (from, to) = window(i);
            Prepared::get(
                &format!(
                    "/v1/records/stats?profile={profile}&completed_from={from}&completed_to={to}&group_by=day"
                ),
                &auth,
            )
        })
        .collect();
    let stats = Arc::new(stats);
    for &generator in &knobs.generators {
        let run = LoadRun {
            requests: stats.clone(),
            expect: StatusCode::OK,
            max_requests: knobs.stats_requests,
            max_duration: knobs.duration,
            concurrency: knobs.records_concurrency,
            keep_bodies: false,
        };
        let result = run.drive_measured(server, generator).await?;
        Report::new(&generator.label("records stats"), &result, server).print();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The load generator: `concurrency` keep-alive HTTP/1.1 connections, each sending the next request
// as soon as the previous answer is read, until `max_requests` are done or `max_duration` passed.

#[derive(Clone)]
struct Prepared {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Prepared {
    fn post_json(path: &str, authorization: &str, body: &Value) -> Prepared {
        Prepared {
            method: Method::POST,
            path: path.to_string(),
            headers: vec![
                (
                    hyper::header::AUTHORIZATION,
                    HeaderValue::from_str(authorization).unwrap(),
                ),
                (
                    hyper::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
            ],
            body: Bytes::from(body.to_string()),
        }
    }

    fn get(path: &str, authorization: &str) -> Prepared {
        Prepared {
            method: Method::GET,
            path: path.to_string(),
            headers: vec![(
                hyper::header::AUTHORIZATION,
                HeaderValue::from_str(authorization).unwrap(),
            )],
            body: Bytes::new(),
        }
    }

    /// The request as HTTP/1.1 text, for an outside generator.
    fn raw(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    fn to_request(&self) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(hyper::header::HOST, "127.0.0.1");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(self.body.clone())).expect("request")
    }
}

struct LoadRun {
    requests: Arc<Vec<Prepared>>,
    expect: StatusCode,
    max_requests: usize,
    max_duration: Duration,
    concurrency: usize,
    /// Keep each answer's body, in request order (the callback set-up needs the credentials).
    keep_bodies: bool,
}

#[derive(Default)]
struct RunResult {
    requests: usize,
    errors: usize,
    first_error: String,
    duration: Duration,
    /// Microseconds, sorted.
    latencies: Vec<u32>,
    bodies: Vec<Bytes>,
    cpu_before: Option<CpuUse>,
    /// p50, p90, p99 and max in µs, as an outside generator reports them (no samples).
    percentiles_us: Option<[f64; 4]>,
    /// CPU seconds of an outside generator (this process's own otherwise).
    generator_cpu_secs: Option<f64>,
}

#[derive(Default)]
struct ConnResult {
    latencies: Vec<u32>,
    errors: usize,
    first_error: Option<String>,
    bodies: Vec<(usize, Bytes)>,
}

impl LoadRun {
    /// Runs against `server`, accounting CPU use from the start.
    async fn drive_measured(self, server: &Server, generator: Generator) -> anyhow::Result<RunResult> {
        self.drive_measured_until(server, generator, None::<std::future::Pending<()>>)
            .await
    }

    /// As [`Self::drive_measured`]; `finished` tells an outside generator, which cannot count
    /// distinct requests, when every request has been served.
    async fn drive_measured_until(
        self,
        server: &Server,
        generator: Generator,
        finished: Option<impl std::future::Future<Output = ()>>,
    ) -> anyhow::Result<RunResult> {
        server.reset_peak_rss();
        let before = CpuUse::now(server.pid);
        let mut result = match generator {
            Generator::Builtin => self.drive(server.addr).await,
            Generator::Wrk => {
                let scratch = tempfile::tempdir()?;
                let requests = &self.requests[..self.max_requests.min(self.requests.len())];
                wrk::drive(
                    requests,
                    self.expect.as_u16(),
                    self.concurrency,
                    self.max_duration,
                    server.addr,
                    finished,
                    scratch.path(),
                )
                .await?
            }
        };
        result.cpu_before = Some(before);
        Ok(result)
    }

    async fn drive(self, addr: SocketAddr) -> RunResult {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + self.max_duration;
        let run = Arc::new(self);
        let tasks: Vec<_> = (0..run.concurrency)
            .map(|_| tokio::spawn(connection(run.clone(), addr, next.clone(), deadline)))
            .collect();
        let mut result = RunResult::default();
        let mut bodies = Vec::new();
        for task in tasks {
            let conn = task.await.expect("connection task");
            result.requests += conn.latencies.len();
            result.errors += conn.errors;
            if result.first_error.is_empty() {
                result.first_error = conn.first_error.unwrap_or_default();
            }
            result.latencies.extend(conn.latencies);
            bodies.extend(conn.bodies);
        }
        result.duration = started.elapsed();
        result.latencies.sort_unstable();
        bodies.sort_by_key(|(i, _)| *i);
        result.bodies = bodies.into_iter().map(|(_, b)| b).collect();
        result
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(
    run: Arc<LoadRun>,
    addr: SocketAddr,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> ConnResult {
    let mut out = ConnResult::default();
    let mut sender = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= run.max_requests || Instant::now() >= deadline {
            return out;
        }
        let prepared = &run.requests[i % run.requests.len()];
        let request = prepared.to_request();
        let started = Instant::now();
        let outcome: anyhow::Result<(StatusCode, Bytes)> = async {
            if sender.is_none() {
                sender = Some(connect(addr).await?);
            }
            let s = sender.as_mut().expect("connected");
            s.ready().await?;
            let response = s.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok((status, body))
        }
        .await;
        out.latencies
            .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        match outcome {
            Ok((status, body)) if status == run.expect => {
                if run.keep_bodies {
                    out.bodies.push((i, body));
                }
            }
            Ok((status, body)) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| {
                    format!(
                        "{} {}: {status} {}",
                        prepared.method,
                        prepared.path,
                        String::from_utf8_lossy(&body)
                    )
                });
            }
            Err(err) => {
                out.errors += 1;
                sender = None;
                out.first_error
                    .get_or_insert_with(|| format!("{} {}: {err:#}", prepared.method, prepared.path));
            }
        }
    }
}

struct Report<'a> {
    name: &'a str,
    result: &'a RunResult,
    peak_rss_kb: Option<u64>,
    cpu: Option<CpuUse>,
}

/// CPU seconds spent during a run by the server, this load generator and Postgres. Throughput
/// depends on what else the two cores are doing; CPU time per request much less so.
#[derive(Clone, Copy, Default)]
struct CpuUse {
    server: f64,
    client: f64,
    postgres: f64,
}

impl CpuUse {
    fn now(server_pid: u32) -> CpuUse {
        CpuUse {
            server: cpu_secs(&format!("/proc/{server_pid}/stat")).unwrap_or(0.0),
            client: cpu_secs("/proc/self/stat").unwrap_or(0.0),
            postgres: postgres_cpu_secs(),
        }
    }

    fn since(self, before: CpuUse) -> CpuUse {
        CpuUse {
            server: self.server - before.server,
            client: self.client - before.client,
            postgres: self.postgres - before.postgres,
        }
    }
}

/// Clock ticks per second of `/proc/*/stat` times; 100 on Linux everywhere that matters.
const TICKS: f64 = 100.0;

/// utime + stime of a process (its threads included), in seconds.
fn cpu_secs(stat_path: &str) -> Option<f64> {
    Some(stat_ticks(stat_path, 2)? / TICKS)
}

/// The sum of `fields` of a process's times, from utime on: 2 (utime, stime), or 4 with the
/// times of its children that exited (cutime, cstime).
fn stat_ticks(stat_path: &str, fields: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the `(comm)`, which may itself hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace()
        .skip(11)
        .take(fields)
        .map(|f| f.parse::<f64>().ok())
        .sum()
}

/// CPU seconds of every `postgres` process, with those that exited: backends and autovacuum
/// workers come and go, and an exited one's time moves to the postmaster's children's times
/// (counting live processes only made Postgres's CPU fall, even below zero, when a worker exited).
fn postgres_cpu_secs() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(|e| stat_ticks(&e.path().join("stat").to_string_lossy(), 4))
        .sum::<f64>()
        / TICKS
}

impl<'a> Report<'a> {
    fn new(name: &'a str, result: &'a RunResult, server: &Server) -> Self {
        Report {
            name,
            result,
            peak_rss_kb: server.peak_rss_kb(),
            cpu: result.cpu_before.map(|before| {
                let mut used = CpuUse::now(server.pid).since(before);
                if let Some(secs) = result.generator_cpu_secs {
                    used.client = secs;
                }
                used
            }),
        }
    }

    fn header() -> String {
        format!(
            "{:<20} {:>8} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>9}  {}",
            "workload",
            "requests",
            "secs",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors",
            "peak RSS",
            "CPU µs/req: server client postgres"
        )
    }

    fn percentile(&self, p: f64) -> f64 {
        if let Some(known) = self.result.percentiles_us {
            let at = [50.0, 90.0, 99.0, 100.0]
                .iter()
                .position(|q| *q == p)
                .unwrap_or(3);
            return known[at] / 1000.0;
        }
        let l = &self.result.latencies;
        if l.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * l.len() as f64).ceil() as usize;
        l[rank.clamp(1, l.len()) - 1] as f64 / 1000.0
    }

    fn print(&self) {
        let r = self.result;
        let secs = r.duration.as_secs_f64();
        println!(
            "{:<20} {:>8} {:>7.2} {:>8.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>6} {:>9}  {}",
            self.name,
            r.requests,
            secs,
            r.requests as f64 / secs,
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(100.0),
            r.errors,
            self.peak_rss_kb
                .map_or("?".to_string(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
            self.cpu.map_or("?".to_string(), |c| {
                let per = |secs: f64| secs * 1e6 / r.requests.max(1) as f64;
                format!("{:.0} {:.0} {:.0}", per(c.server), per(c.client), per(c.postgres))
            }),
        );
        if r.errors > 0 {
            println!("  first error: {}", r.first_error);
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------------------------
// The server under test: the release binary as a child process.

struct Server {
    child: tokio::process::Child,
    pid: u32,
    addr: SocketAddr,
    settings: Settings,
    env: HashMap<String, String>,
    bin: String,
    /// Run under a tool (`BENCH_SERVER_WRAPPER`): slow to start, and stopped gently.
    wrapped: bool,
}

impl Server {
    async fn start(knobs: &Knobs, db: &BenchDb, oss: &KeyServer, data_dir: &Path) -> anyhow::Result<Server> {
        Self::start_on(knobs, &db.url, oss, data_dir).await
    }

    /// The server on the database at `database_url` (the soak puts a proxy in between).
    async fn start_on(
        knobs: &Knobs,
        database_url: &str,
        oss: &KeyServer,
        data_dir: &Path,
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let mut env: HashMap<String, String> = HashMap::from([
            ("APP_ENV".into(), "local".into()),
            (
                "APP_CONFIG_DIR".into(),
                knobs.server_config_dir.display().to_string(),
            ),
            // Postgres is on loopback here: TLS would only add work (sqlx prefers it by default).
            (
                "DATABASE_URL".into(),
                if knobs.pg_tls {
                    database_url.to_string()
                } else {
                    format!("{database_url}?sslmode=disable")
                },
            ),
            ("APP__SERVER__PORT".into(), port.to_string()),
            // Its own emulator port: another server (a test, a second bench) may hold the default.
            ("APP__EMULATOR__PORT".into(), free_port()?.to_string()),
            ("APP__SERVER__WORKERS".into(), knobs.server_workers.to_string()),
            ("APP__ISSUANCE__RATE_PER_MINUTE".into(), "0".into()),
            ("APP__LOG__LEVEL".into(), knobs.log_level.clone()),
            (
                "APP__CALLBACK__URL".into(),
                format!("http://127.0.0.1:{port}/v1/oss/callback"),
            ),
            (
                "APP__CALLBACK__ALLOWED_KEY_URL_PREFIXES".into(),
                oss.prefix.clone(),
            ),
            (
                "APP__CALLBACK__SPOOL_DIR".into(),
                data_dir.join("spool").display().to_string(),
            ),
        ]);
        if let Some(n) = knobs.db_connections {
            env.insert("APP__DATABASE__MAX_CONNECTIONS".into(), n.to_string());
        }
        let settings = Settings::load(&config_dir(), &env)?;
        let command: Vec<&str> = knobs
            .server_wrapper
            .iter()
            .map(String::as_str)
            .chain([knobs.server_bin.as_str(), "serve"])
            .collect();
        let child = tokio::process::Command::new(command[0])
            .args(&command[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Its warnings (sqlx's slow-statement alerts under the stats load, say) would bury the
            // table; `BENCH_SERVER_LOG=1` shows them.
            .stderr(if knobs.server_log {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().expect("server pid");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut server = Server {
            child,
            pid,
            addr,
            settings,
            env,
            bin: knobs.server_bin.clone(),
            wrapped: !knobs.server_wrapper.is_empty(),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let patience = Duration::from_secs(if self.wrapped { 300 } else { 30 });
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server exited at start-up: {status}");
            }
            if let Ok((StatusCode::OK, _)) = get(self.addr, "/readyz").await {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the server did not become ready in {patience:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident set now (VmRSS), in kB.
    fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Peak resident set since the last reset (VmHWM), in kB.
    fn peak_rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Starts a new peak-RSS window (`5` to `clear_refs` resets VmHWM), so each workload reports
    /// its own peak; the process-wide peak is the largest of them.
    fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }

    /// `callbacks_total{outcome="recorded"}` plus `{outcome="spooled"}` from `/metrics`.
    async fn callbacks_recorded(&self) -> u64 {
        let Ok((_, body)) = get(self.addr, "/metrics").await else {
            return 0;
        };
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| l.starts_with("upload_signer_callbacks_total{"))
            // Spooled callbacks were answered and are durable; the spool's replay records them.
            .filter(|l| l.contains("outcome=\"recorded\"") || l.contains("outcome=\"spooled\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Callbacks parked in the spool (a database outage would put them there).
    async fn spool_depth(&self) -> String {
        match get(self.addr, "/readyz").await {
            Ok((_, body)) => serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.pointer("/checks/spool/depth").cloned())
                .map_or("?".to_string(), |v| v.to_string()),
            Err(_) => "?".into(),
        }
    }

    /// `upload-signer api-key create`, as an operator would run it.
    async fn create_api_key(&self) -> anyhow::Result<String> {
        let out = tokio::process::Command::new(&self.bin)
            .args(["api-key", "create", "--name", "bench", "--scope", "uploads:read"])
            .env_clear()
            .envs(&self.env)
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "api-key create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }

    async fn stop(mut self) {
        if self.wrapped {
            // SIGTERM: the server shuts down and the tool writes what it measured.
            let _ = tokio::process::Command::new("kill")
                .arg(self.pid.to_string())
                .status()
                .await;
        } else {
            let _ = self.child.start_kill();
        }
        let _ = self.child.wait().await;
    }
}

/// A one-off GET on a fresh connection (readiness polling).
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    let request = Request::get(path)
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

fn config_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("config")
}

// ---------------------------------------------------------------------------------------------
// OSS's side: a key pair, the public key served over HTTP, callbacks rendered and signed.

#[derive(Clone)]
struct KeyServer {
    key: RsaPrivateKey,
    prefix: String,
    key_url_b64: String,
}

impl KeyServer {
    async fn start() -> KeyServer {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("RSA key");
        let pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind key server");
        let port = listener.local_addr().expect("key server address").port();
        // The server fetches the key once and caches it: a minimal HTTP/1.0-style answer will do.
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let pem = pem.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                        match stream.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{pem}",
                        pem.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        let prefix = format!("http://127.0.0.1:{port}/");
        let key_url_b64 = STANDARD.encode(format!("{prefix}callback_pub_key_v1.pem"));
        KeyServer {
            key,
            prefix,
            key_url_b64,
        }
    }

    /// The callback OSS sends once the upload `credential` (a `POST /v1/uploads` answer) is done.
    fn signed_callback(&self, credential: &Value, i: usize) -> Prepared {
        let param = &credential["callback_param"];
        let template = param["callbackBody"].as_str().expect("callbackBody");
        let body_type =
            CallbackBodyType::parse(param["callbackBodyType"].as_str().expect("callbackBodyType"))
                .expect("body type");
        let size = credential["max_size"].as_u64().unwrap_or(1).to_string();
        let etag = format!(
            "{:032X}",
            (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
        );
        let request_id = format!("5F1D7E2A{i:016X}");
        let image_format = match credential["content_type"].as_str() {
            Some("image/jpeg") => Some("jpg"),
            Some("image/png") => Some("png"),
            Some("image/webp") => Some("webp"),
            _ => None,
        };
        let lookup = |name: &str| -> Option<String> {
            Some(match name {
                "bucket" => credential["bucket"].as_str()?.to_string(),
                "object" => credential["key"].as_str()?.to_string(),
                "etag" => etag.clone(),
                "size" => size.clone(),
                "mimeType" => credential["content_type"].as_str()?.to_string(),
                // As OSS reports them: an image's format from its header, nothing for a video.
                "imageInfo.height" if image_format.is_some() => "1080".into(),
                "imageInfo.width" if image_format.is_some() => "1920".into(),
                "imageInfo.format" => image_format.unwrap_or_default().into(),
                "imageInfo.height" | "imageInfo.width" => String::new(),
                "crc64" => "11051210869376104954".into(),
                "contentMd5" => "1B2M2Y8AsgTpgAmY7PhCfg==".into(),
                "clientIp" => "203.0.113.7".into(),
                "reqId" => request_id.clone(),
                "operation" => "PutObject".into(),
                var if var.starts_with("x:") => credential["callback_vars"][var].as_str()?.to_string(),
                _ => return None,
            })
        };
        let body = signing::callback::render_body(template, body_type, lookup);
        let url = url::Url::parse(param["callbackUrl"].as_str().expect("callbackUrl")).expect("callback URL");
        let authorization =
            signing::callback::sign_for_tests(&self.key, url.path(), None, body.as_bytes()).expect("sign");
        Prepared {
            method: Method::POST,
            path: url.path().to_string(),
            headers: vec![
                (
                    hyper::header::CONTENT_TYPE,
                    HeaderValue::from_static(body_type.as_str()),
                ),
                (
                    hyper::header::AUTHORIZATION,
                    HeaderValue::from_str(&authorization).unwrap(),
                ),
                (
                    HeaderName::from_static("x-oss-pub-key-url"),
                    HeaderValue::from_str(&self.key_url_b64).unwrap(),
                ),
            ],
            body: Bytes::from(body),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The database: created fresh, dropped afterwards (also when the benchmark fails).

struct BenchDb {
    admin: String,
    name: String,
    url: String,
}

impl BenchDb {
    async fn create(server: &str) -> BenchDb {
        let name = format!("us_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = format!("{server}/postgres");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres must run at {server}: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create the benchmark database");
        BenchDb {
            admin,
            url: format!("{server}/{name}"),
            name,
        }
    }

    async fn connect(&self) -> anyhow::Result<sqlx::PgConnection> {
        Ok(sqlx::PgConnection::connect(&self.url).await?)
    }

    /// All rows, and the completed ones.
    async fn upload_counts(&self) -> anyhow::Result<(i64, i64)> {
        let mut conn = self.connect().await?;
        Ok(
            sqlx::query_as("SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'completed') FROM uploads")
                .fetch_one(&mut conn)
                .await?,
        )
    }

    async fn completed_count(&self) -> anyhow::Result<i64> {
        let mut conn = self.connect().await?;
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE status = 'completed'")
                .fetch_one(&mut conn)
                .await?,
        )
    }

    /// `n` uploads in one statement, spread like production: skewed users (each with an account),
    /// mostly chat images, sizes from kilobytes to a gigabyte, completed over the last half year, a
    /// few still pending; written in time order, as a live table fills (rows of one day share heap
    /// pages).
    async fn load_records(&self, n: usize) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        sqlx::query(LOAD_ACCOUNTS_SQL).execute(&mut conn).await?;
        // Rows carry their username since migration 20261204200000; a build from before has no
        // such column (`BENCH_SERVER_BIN`) and reads it from `users` per row instead.
        let carries_username: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                            WHERE table_name = 'uploads' AND column_name = 'username')",
        )
        .fetch_one(&mut conn)
        .await?;
        let sql = match carries_username {
            true => LOAD_RECORDS_SQL
                .replace("completed_at)\nSELECT", "completed_at, username)\nSELECT")
                .replace(
                    "ELSE at END\nFROM (",
                    "ELSE at END,\n       (SELECT username FROM users WHERE users.id = rows.user_id)\nFROM (",
                ),
            false => LOAD_RECORDS_SQL.to_string(),
        };
        anyhow::ensure!(
            !carries_username || (sql.contains("completed_at, username)") && sql.contains("rows.user_id")),
            "the records' load statement no longer has the shape the username is added to"
        );
        sqlx::query(&sql).bind(n as i64).execute(&mut conn).await?;
        // As autovacuum would have left a table this old: hint bits set, statistics fresh.
        sqlx::query("VACUUM ANALYZE uploads").execute(&mut conn).await?;
        Ok(())
    }
}

/// The accounts of the users [`LOAD_RECORDS_SQL`] spreads uploads over (`u000000` to
/// `u050000`): records pages show each row's username.
const LOAD_ACCOUNTS_SQL: &str = "
INSERT INTO users (id, username, password_hash, created_at)
SELECT 'u' || lpad(g::text, 6, '0'), 'records-user-' || lpad(g::text, 6, '0'), 'not-a-password-hash', now()
FROM generate_series(0, 50000) AS g
ON CONFLICT DO NOTHING";

const LOAD_RECORDS_SQL: &str = r#"
INSERT INTO uploads (upload_id, user_id, profile, bucket, object_key, status, source, size, etag,
                     mime_type, image_width, image_height, image_format, vars, client_ip,
                     oss_request_id, issued_at, expires_at, completed_at)
SELECT id, user_id, profile, 'demo-bucket',
       CASE profile
           WHEN 'chat-image' THEN 'chat/' || user_id || '/' || to_char(at, 'YYYYMMDD') || '/' || id || ext
           WHEN 'avatar' THEN 'avatars/' || user_id || '/' || to_char(at, 'YYYY/MM') || '/' || id || ext
           ELSE 'videos/' || user_id || '/' || id || ext
       END,
       CASE WHEN pending THEN 'pending' ELSE 'completed' END,
       CASE WHEN pending THEN NULL ELSE 'callback' END,
       CASE WHEN pending THEN NULL ELSE size END,
       CASE WHEN pending THEN NULL ELSE upper(md5(id)) END,
       CASE WHEN pending THEN NULL ELSE mime END,
       CASE WHEN profile <> 'video' AND NOT pending THEN 1920 END,
       CASE WHEN profile <> 'video' AND NOT pending THEN 1080 END,
       CASE WHEN profile <> 'video' AND NOT pending THEN split_part(mime, '/', 2) END,
       CASE WHEN profile = 'chat-image'
            THEN jsonb_build_object('caption', 'photo ' || g, 'conversation_id', 'c' || (g % 997))
            ELSE '{}'::jsonb END,
       CASE WHEN pending THEN NULL ELSE '203.0.113.' || (g % 250) END,
       CASE WHEN pending THEN NULL ELSE lpad(to_hex(g), 24, '0') END,
       at - interval '1 minute', at + interval '30 minutes',
       CASE WHEN pending THEN NULL ELSE at END
FROM (
    SELECT g, md5(g::text) AS id, 'u' || lpad((floor(power(r1, 3) * 50000))::int::text, 6, '0') AS user_id,
           profile, mime, ext, size, pending,
           now() - r3 * interval '180 days' AS at
    FROM (
        SELECT g, r1, r3, p, m,
               CASE WHEN p < 0.6 THEN 'chat-image' WHEN p < 0.9 THEN 'avatar' ELSE 'video' END AS profile,
               CASE WHEN p < 0.6 THEN (CASE WHEN m < 0.6 THEN 'image/jpeg' WHEN m < 0.85 THEN 'image/png'
                                            WHEN m < 0.95 THEN 'image/webp' ELSE 'image/heic' END)
                    WHEN p < 0.9 THEN (CASE WHEN m < 0.5 THEN 'image/jpeg' WHEN m < 0.8 THEN 'image/png'
                                            ELSE 'image/webp' END)
                    ELSE (CASE WHEN m < 0.8 THEN 'video/mp4' ELSE 'video/quicktime' END) END AS mime,
               CASE WHEN p < 0.9 THEN (CASE WHEN m < 0.6 THEN '.jpg' WHEN m < 0.85 THEN '.png' ELSE '.webp' END)
                    ELSE (CASE WHEN m < 0.8 THEN '.mp4' ELSE '.mov' END) END AS ext,
               CASE WHEN p < 0.9 THEN 1000 + (power(r2, 3) * 20000000)::bigint
                    ELSE 100000 + (power(r2, 3) * 1000000000)::bigint END AS size,
               (g % 50 = 0) AS pending
        FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS p, random() AS m
              FROM generate_series(1, $1) AS g) AS raw
    ) AS shaped
) AS rows
ORDER BY at
"#;

impl Drop for BenchDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // A runtime of its own: this may run while the benchmark's runtime is unwinding.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async {
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
