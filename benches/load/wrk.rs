//! The outside load generator: the same prepared requests, sent by `wrk` (`-t2`, the workload's
//! connections) instead of this process, so anyone can check the figures with a tool we did not
//! write. wrk is installed with `apt-get` when missing and we are root.
//!
//! Each request is written out once, as the raw HTTP/1.1 text wrk sends; a small Lua script hands
//! thread `t` of `n` the requests `t, t + n, t + 2n, ...` in turn. A workload that must send each
//! request once (the callbacks) passes `finished`, a future that resolves when the server has done
//! everything; wrk then gets `SIGINT`, which ends its run and prints its summary as at the end of
//! `-d`. Such a run uses one wrk thread: two would finish their halves at different times, and the
//! faster one would send repeats while the other finishes. wrk's own CPU comes from GNU time.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::{Prepared, RunResult};

/// The Lua side: load the requests, hand them out per thread, print the summary as one line.
const SCRIPT: &str = r#"
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos = 1
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    reqs[#reqs + 1] = string.sub(data, nl + 1, nl + len)
    pos = nl + 1 + len
  end
  threads = tonumber(args[2])
  expect = tonumber(args[3])
  -- Send each request once, then the last one again until the run is ended.
  once = args[4] == "once"
  share = math.floor((#reqs - tid - 1) / threads) + 1
  -- wrk asks each thread for one request it never sends (it sizes its first write with it).
  sent = -1
  bad = 0
end

function request()
  local n = math.max(sent, 0)
  if once and n >= share then
    n = share - 1
  end
  sent = sent + 1
  return reqs[(tid + n * threads) % #reqs + 1]
end

function response(status, headers, body)
  if status ~= expect then
    bad = bad + 1
    if bad == 1 then
      io.stderr:write("WRK-FIRST-ERROR " .. status .. " " .. string.sub(body or "", 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#;

/// wrk's threads, as the issue's independent measurement ran it.
const THREADS: usize = 2;

/// Makes sure `wrk` is on the PATH, installing Debian's package if it is not.
pub fn ensure_installed() -> anyhow::Result<()> {
    let found = || {
        std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok()
    };
    if found() {
        return Ok(());
    }
    eprintln!("  (wrk not found: apt-get install -y wrk)");
    let status = std::process::Command::new("apt-get")
        .args(["install", "-y", "-q", "wrk"])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success() && found(),
        "wrk is not installed and apt-get could not install it; install wrk (or oha) and retry"
    );
    Ok(())
}

/// Sends `requests` round robin over `concurrency` connections for `duration`, or until
/// `finished` resolves, and reads wrk's summary. Every answer but `expect` counts as an error.
pub async fn drive(
    requests: &[Prepared],
    expect: u16,
    concurrency: usize,
    duration: Duration,
    addr: std::net::SocketAddr,
    finished: Option<impl Future<Output = ()>>,
    scratch: &Path,
) -> anyhow::Result<RunResult> {
    let once = finished.is_some();
    let data = scratch.join("wrk-requests.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&data)?);
    for prepared in requests {
        let raw = prepared.raw();
        writeln!(file, "{}", raw.len())?;
        file.write_all(&raw)?;
    }
    file.into_inner()?.sync_all()?;
    let script = scratch.join("wrk.lua");
    std::fs::write(&script, SCRIPT)?;

    let threads = if once { 1 } else { THREADS.min(concurrency) };
    let mut child = tokio::process::Command::new("/usr/bin/time")
        .args(["-f", "WRK-CPU %U %S", "wrk"])
        .arg(format!("-t{threads}"))
        .arg(format!("-c{concurrency}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout=30s")
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg("--")
        .arg(&data)
        .arg(threads.to_string())
        .arg(expect.to_string())
        .arg(if once { "once" } else { "cycle" })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: SIGINT reaches wrk; GNU time ignores it while it waits.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().expect("wrk's pid");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let read_out = async {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s).await;
        s
    };
    let read_err = async {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    };
    let run = async {
        tokio::select! {
            status = child.wait() => status,
            () = async {
                match finished {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            } => {
                let _ = std::process::Command::new("kill")
                    .args(["-INT", "--", &format!("-{pid}")])
                    .status();
                child.wait().await
            }
        }
    };
    let (status, out, err) = tokio::join!(run, read_out, read_err);
    anyhow::ensure!(status?.success(), "wrk failed: {out}{err}");
    parse(&out, &err)
}

fn parse(out: &str, err: &str) -> anyhow::Result<RunResult> {
    let numbers = |prefix: &str, text: &str| -> Option<Vec<f64>> {
        let line = text.lines().find_map(|l| l.strip_prefix(prefix))?;
        line.split_whitespace().map(|v| v.parse().ok()).collect()
    };
    let summary = numbers("WRK ", out).ok_or_else(|| anyhow::anyhow!("no summary from wrk: {out}{err}"))?;
    let cpu = numbers("WRK-CPU ", err).ok_or_else(|| anyhow::anyhow!("no CPU time from GNU time: {err}"))?;
    let [requests, duration_us, io_errors, status_errors, p50, p90, p99, max] = summary[..] else {
        anyhow::bail!("unexpected wrk summary: {out}");
    };
    let first_error = err
        .lines()
        .find_map(|l| l.strip_prefix("WRK-FIRST-ERROR "))
        .map(|e| format!("(wrk) {e}"))
        .unwrap_or_else(|| format!("(wrk) {io_errors} socket errors"));
    Ok(RunResult {
        requests: requests as usize,
        errors: (io_errors + status_errors) as usize,
        first_error,
        duration: Duration::from_micros(duration_us as u64),
        percentiles_us: Some([p50, p90, p99, max]),
        generator_cpu_secs: Some(cpu.iter().sum()),
        ..RunResult::default()
    })
}
