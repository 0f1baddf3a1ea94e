//! `BENCH_ONLY=soak`: mixed load for `BENCH_SOAK_SECS` [600] at `BENCH_SOAK_RATE` [100] uploads a
//! second (each: issue, then its callback; every tenth also confirmed; a records page every tenth),
//! with the database cut for `BENCH_SOAK_OUTAGE_SECS` [20] in the middle through a TCP proxy in
//! front of Postgres. Checks: no 5xx outside the outage (and 10 s of recovery), every upload
//! answered `201` then `200` recorded exactly once, the server's RSS flat within 15 % after the
//! first minute (sampled every 5 s).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;

use super::tcp_proxy::TcpProxy;
use super::{connect, knob, BenchDb, KeyServer, Knobs, Prepared, Server};

/// One request's fate, for the 5xx count.
struct Outcome {
    started: Duration,
    status: Option<StatusCode>,
}

pub async fn soak(
    knobs: &Knobs,
    db: &BenchDb,
    oss: &KeyServer,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let duration = Duration::from_secs(knob("BENCH_SOAK_SECS", 600));
    let rate: u64 = knob("BENCH_SOAK_RATE", 100);
    let outage = Duration::from_secs(knob("BENCH_SOAK_OUTAGE_SECS", 20));
    // The outage: the tests' proxy in front of Postgres, cut and restored.
    let mut via_proxy = url::Url::parse(&db.url)?;
    let target = format!(
        "{}:{}",
        via_proxy.host_str().unwrap_or("127.0.0.1"),
        via_proxy.port().unwrap_or(5432)
    );
    let proxy = TcpProxy::start(&target).await;
    via_proxy.set_host(Some("127.0.0.1"))?;
    via_proxy
        .set_port(Some(proxy.port))
        .map_err(|_| anyhow::anyhow!("database URL without a port"))?;
    let server = Server::start_on(knobs, via_proxy.as_str(), oss, data_dir).await?;
    let mut cut = false;
    let api_key = server.create_api_key().await?;
    let tokens = upload_signer::auth::AccessTokens::from_settings(&server.settings)?;
    let started = Instant::now();
    let (cut_at, restore_at) = (duration / 2, duration / 2 + outage);
    println!(
        "soak: {} s at {rate} uploads/s, database cut from {} s to {} s, load average {}",
        duration.as_secs(),
        cut_at.as_secs(),
        restore_at.as_secs(),
        super::load_average()
    );

    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let uploads: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let mut rss: Vec<(u64, u64)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let mut next_sample = Duration::ZERO;
    let mut tasks = tokio::task::JoinSet::new();
    let mut i = 0usize;
    while started.elapsed() < duration {
        tick.tick().await;
        let now = started.elapsed();
        if (cut_at..restore_at).contains(&now) != cut {
            cut = !cut;
            if cut {
                proxy.cut()
            } else {
                proxy.restore()
            }
        }
        if now >= next_sample {
            rss.push((now.as_secs(), server.rss_kb().unwrap_or(0)));
            next_sample += Duration::from_secs(5);
        }
        let (token, _) = tokens
            .issue(&format!("soak-user-{:04}", i % 1000), chrono::Utc::now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let job = Upload {
            i,
            addr: server.addr,
            token: format!("Bearer {token}"),
            api_key: format!("Bearer {api_key}"),
            started,
            outcomes: outcomes.clone(),
            uploads: uploads.clone(),
        };
        let signer = oss.clone();
        tasks.spawn(async move { job.run(&signer).await });
        i += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}

    // Recovery: the spool drains into the database.
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.spool_depth().await != "0" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let quiet = |o: &&Outcome| o.started < cut_at || o.started >= restore_at + Duration::from_secs(10);
    let errors_outside = outcomes
        .iter()
        .filter(quiet)
        .filter(|o| o.status.is_none_or(|s| s.is_server_error()))
        .count();
    let outside = outcomes.iter().filter(quiet).count();
    let during = outcomes.len() - outside;
    let uploads = std::mem::take(&mut *uploads.lock().unwrap());
    let answered = uploads.iter().filter(|(_, called_back)| *called_back).count();
    let (rows, completed) = db.upload_counts().await?;
    // Flat within each phase: after warm-up until the cut, and after recovery to the end. The
    // outage itself (reconnects, the spool's replay) may leave one step, which is reported.
    let phase = |from: u64, to: u64| -> (u64, u64) {
        let kb: Vec<u64> = rss
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .map(|(_, kb)| *kb)
            .collect();
        (
            kb.first().copied().unwrap_or(0),
            kb.iter().copied().max().unwrap_or(0),
        )
    };
    let growth = |(first, max): (u64, u64)| {
        if first > 0 {
            (max as f64 / first as f64 - 1.0) * 100.0
        } else {
            0.0
        }
    };
    let before = phase(60, cut_at.as_secs());
    let after = phase(restore_at.as_secs() + 30, u64::MAX);
    let (first, max) = (before.0, before.1.max(after.1));
    let growth_before = growth(before);
    let growth_after = growth(after);
    let growth = growth_before.max(growth_after);
    println!(
        "  requests {}: outside the outage {outside} with {errors_outside} 5xx/errors; during {during}",
        outcomes.len()
    );
    println!(
        "  uploads issued {} (201), callbacks answered 200 {answered}, rows {rows}, completed {completed}, spool {}",
        uploads.len(),
        server.spool_depth().await
    );
    println!(
        "  RSS after warm-up: {} MB first, {} MB peak; growth before the outage {growth_before:+.1} %, \
         after recovery {growth_after:+.1} % (from {} MB); samples (s, MB): {}",
        first / 1024,
        max / 1024,
        after.0 / 1024,
        rss.iter()
            .step_by(6)
            .map(|(t, kb)| format!("{t}:{}", kb / 1024))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("  load average at the end: {}", super::load_average());
    server.stop().await;
    anyhow::ensure!(
        errors_outside == 0,
        "{errors_outside} 5xx or failed requests outside the outage"
    );
    anyhow::ensure!(
        rows as usize == uploads.len(),
        "{} credentials issued but {rows} rows",
        uploads.len()
    );
    anyhow::ensure!(
        completed as usize == answered,
        "{answered} callbacks answered but {completed} completed"
    );
    anyhow::ensure!(growth <= 15.0, "RSS grew {growth:.1} % within a phase");
    Ok(())
}

struct Upload {
    i: usize,
    addr: SocketAddr,
    token: String,
    api_key: String,
    started: Instant,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    uploads: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Upload {
    async fn run(self, oss: &KeyServer) {
        let body = super::upload_body(self.i);
        let Some(credential) = self
            .send(Prepared::post_json("/v1/uploads", &self.token, &body))
            .await
        else {
            return;
        };
        let Ok(credential) = serde_json::from_slice::<serde_json::Value>(&credential) else {
            return;
        };
        let id = credential["upload_id"].as_str().unwrap_or_default().to_string();
        let called_back = self
            .send(oss.signed_callback(&credential, self.i))
            .await
            .is_some();
        if self.i.is_multiple_of(10) {
            self.send(Prepared::post_json(
                &format!("/v1/uploads/{id}/complete"),
                &self.token,
                &serde_json::json!({}),
            ))
            .await;
            self.send(Prepared::get("/v1/records/uploads?limit=20", &self.api_key))
                .await;
        }
        self.uploads.lock().unwrap().push((id, called_back));
    }

    /// Sends on a fresh connection; the body of a 2xx answer.
    async fn send(&self, prepared: Prepared) -> Option<Bytes> {
        let started = self.started.elapsed();
        let answer = async {
            let mut sender = connect(self.addr).await?;
            let response = sender.send_request(prepared.to_request()).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        let status = answer.as_ref().ok().map(|(s, _)| *s);
        self.outcomes.lock().unwrap().push(Outcome { started, status });
        answer.ok().filter(|(s, _)| s.is_success()).map(|(_, b)| b)
    }
}
