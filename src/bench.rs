//! Benchmarks: commands that measure and print figures (never timed tests).

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::clock::{Clock, SystemClock};
use crate::contraforce::webhook::sign;
use crate::sandbox::Sandbox;
use crate::sandbox::halo::RateLimit as HaloLimit;
use crate::settings::Settings;

const CF_SECRET: &str = "bench-contraforce-signing-secret";
const INCIDENT: &str = include_str!("../tests/data/cf-incident-created.json");

/// What one sender saw for one incident.
struct Delivery {
    attempts: u32,
    status: String,
    ticket_id: Option<u64>,
}

/// Posts one signed incident until it is answered 200, sleeping each 503's `Retry-After`, as
/// ContraForce re-delivers.
async fn deliver(http: &reqwest::Client, url: &str, n: usize) -> Delivery {
    let mut incident: Value = serde_json::from_str(INCIDENT).expect("embedded fixture is JSON");
    incident["data"]["incidentId"] = json!(format!("burst-{n}"));
    incident["data"]["incidentNumber"] = json!(n);
    let body = serde_json::to_vec(&incident).expect("serialisable");
    let mut attempts = 0;
    loop {
        attempts += 1;
        let ts = SystemClock.now_unix().to_string();
        let response = http
            .post(format!("{url}/api/CfToHalo"))
            .header("X-CF-Signature", sign(CF_SECRET, &ts, &body))
            .header("X-CF-Timestamp", ts)
            .header("X-CF-Event-Id", format!("burst-event-{n}"))
            .body(body.clone())
            .send()
            .await;
        let Ok(response) = response else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match (status, retry_after) {
            (503, Some(secs)) if attempts < 100 => {
                tokio::time::sleep(Duration::from_secs(secs)).await
            }
            _ => {
                return Delivery {
                    attempts,
                    status: answer["status"]
                        .as_str()
                        .map_or_else(|| format!("{status} {answer}"), str::to_string),
                    ticket_id: answer["ticketId"].as_u64(),
                };
            }
        }
    }
}

/// `bench-burst`: many new incidents at once against a rate-limited sandbox Halo.
pub async fn burst(incidents: usize, calls: u32, window_secs: u64) -> ExitCode {
    let limit = format!("{calls}/{window_secs}");
    let local = crate::demo::start_local(&[
        ("CF_WEBHOOK_SECRET", CF_SECRET),
        ("HALO_RATE_LIMIT", &limit),
    ])
    .await;
    let (sandbox, url, handle) = match local {
        Ok(l) => (l.sandbox, l.url, l.handle),
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let window = Duration::from_secs(window_secs);
    sandbox.halo.set_rate_limit(Some(HaloLimit {
        calls,
        window,
        retry_after: true,
    }));
    println!(
        "burst: {incidents} new incidents at once; sandbox Halo allows {calls} calls per rolling {window_secs} s;"
    );
    println!(
        "       the handler's HALO_RATE_LIMIT={limit}; senders re-deliver after each 503's Retry-After\n"
    );

    let http = reqwest::Client::new();
    let started = Instant::now();
    let results = join_all((0..incidents).map(|n| deliver(&http, &url, n))).await;
    let elapsed = started.elapsed();

    let created = results.iter().filter(|d| d.status == "created").count();
    let answered_other: Vec<&String> = results
        .iter()
        .map(|d| &d.status)
        .filter(|s| *s != "created")
        .collect();
    let deliveries: u32 = results.iter().map(|d| d.attempts).sum();
    let tickets = sandbox.halo.tickets();
    let mut per_incident: HashMap<String, usize> = HashMap::new();
    for t in &tickets {
        *per_incident
            .entry(t.thirdpartynumber.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let exactly_one = per_incident.len() == incidents && per_incident.values().all(|n| *n == 1);
    let distinct_ids = results
        .iter()
        .filter_map(|d| d.ticket_id)
        .collect::<std::collections::HashSet<_>>()
        .len();
    let api_calls = sandbox.halo.api_requests();
    let token_calls = sandbox.halo.token_requests();
    let halo_calls = api_calls + token_calls;
    let minimum = 2 * incidents + 1;
    let ratio = halo_calls as f64 / minimum as f64;
    let throttled = sandbox.halo.rate_limited_count();

    println!(
        "  elapsed                      {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  deliveries (incl. re-sends)  {deliveries} ({} answered 503 + Retry-After)",
        deliveries as usize - incidents
    );
    println!(
        "  answers                      {created} created, {} other {:?}",
        answered_other.len(),
        answered_other.iter().take(3).collect::<Vec<_>>()
    );
    println!(
        "  tickets in Halo              {} for {incidents} incidents ({distinct_ids} distinct ids answered)",
        tickets.len()
    );
    println!(
        "  Halo calls                   {halo_calls} ({api_calls} API + {token_calls} token); minimum {minimum}; ratio {ratio:.3}"
    );
    println!("  429 answers from Halo        {throttled}");
    println!(
        "  throughput                   {:.2} incidents/s (the budget allows {:.2})",
        incidents as f64 / elapsed.as_secs_f64(),
        f64::from(calls) / 2.0 / window_secs as f64
    );

    handle.stop(false).await;
    sandbox.stop().await;
    let ok = exactly_one && created == incidents && throttled == 0 && ratio <= 1.05;
    println!(
        "\n{}",
        if ok {
            "PASS: exactly one ticket per incident, no 429, calls within 1.05 × the minimum"
        } else {
            "FAIL"
        }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------
// `bench`: the release handler as its own process against the sandbox.
// ---------------------------------------------------------------------------------------------

/// Arguments of `bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// New incidents posted against the zero-latency Halo.
    #[arg(long, default_value_t = 10_000)]
    pub incidents: usize,
    /// New incidents posted against the slow Halo.
    #[arg(long, default_value_t = 2_000)]
    pub slow_incidents: usize,
    /// How long the slow Halo takes to answer each call, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub halo_delay_ms: u64,
    /// Re-deliveries of already processed events.
    #[arg(long, default_value_t = 20_000)]
    pub redeliveries: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Cold starts to time (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub cold_starts: usize,
    /// LOG_FORMAT of the benchmarked handler (its log, at RUST_LOG=info, goes to /dev/null).
    #[arg(long, default_value = "json")]
    pub log_format: String,
    /// Write the benchmarked handler's log here instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    pub handler_log: Option<std::path::PathBuf>,
}

const BENCH_SECRET: &str = "bench-contraforce-signing-secret";
const BENCH_HALO_SECRET: &str = "bench-halo-shared-secret";

/// The spawned handler process, killed by its PID when dropped.
struct Handler {
    child: std::process::Child,
    url: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Handler {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `{exe} serve` with exactly this environment on a free port; does not wait.
fn spawn_handler(
    env: &HashMap<String, String>,
    log: Option<&std::path::Path>,
) -> std::io::Result<Handler> {
    let stderr = match log {
        Some(path) => std::process::Stdio::from(std::fs::File::create(path)?),
        None => std::process::Stdio::null(),
    };
    let exe = std::env::current_exe()?;
    let port = free_port()?;
    let child = std::process::Command::new(exe)
        .arg("serve")
        .env_clear()
        .envs(env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()?;
    Ok(Handler {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

/// One `GET /` over a fresh connection; true on a 200 answer.
fn ping_once(addr: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Polls `GET /` until it is answered 200; the time from `since`.
fn wait_ready(handler: &mut Handler, since: Instant) -> std::io::Result<Duration> {
    let addr = handler.url.trim_start_matches("http://").to_string();
    loop {
        if ping_once(&addr) {
            return Ok(since.elapsed());
        }
        if let Some(status) = handler.child.try_wait()? {
            return Err(std::io::Error::other(format!(
                "the handler exited with {status} before answering GET /"
            )));
        }
        if since.elapsed() > Duration::from_secs(10) {
            return Err(std::io::Error::other(
                "the handler did not answer GET / within 10 s",
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Exec → first `GET /` answered, `n` times; sorted.
fn cold_starts(env: &HashMap<String, String>, n: usize) -> std::io::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let started = Instant::now();
        let mut handler = spawn_handler(env, None)?;
        times.push(wait_ready(&mut handler, started)?);
    }
    times.sort();
    Ok(times)
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU time a process has used so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// A signed delivery, ready to post.
#[derive(Clone)]
struct Prepared {
    event_id: String,
    body: actix_web::web::Bytes,
    timestamp: String,
    signature: String,
}

fn prepare(prefix: &str, range: std::ops::Range<usize>) -> Vec<Prepared> {
    let template: Value = serde_json::from_str(INCIDENT).expect("embedded fixture is JSON");
    range
        .map(|n| {
            let mut incident = template.clone();
            incident["data"]["incidentId"] = json!(format!("{prefix}-incident-{n}"));
            incident["data"]["incidentNumber"] = json!(n);
            let body = serde_json::to_vec(&incident).expect("serialisable");
            Prepared {
                event_id: format!("{prefix}-event-{n}"),
                body: body.into(),
                timestamp: String::new(),
                signature: String::new(),
            }
        })
        .collect()
}

/// Signs every delivery with the current time (each phase re-signs, so the skew window holds).
fn sign_all(deliveries: &mut [Prepared]) {
    let ts = SystemClock.now_unix().to_string();
    for d in deliveries {
        d.signature = sign(BENCH_SECRET, &ts, &d.body);
        d.timestamp.clone_from(&ts);
    }
}

/// What one load phase measured.
struct Load {
    elapsed: Duration,
    latencies: Vec<Duration>,
    answers: HashMap<String, usize>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((p * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    fn count(&self, status: &str) -> usize {
        self.answers.get(status).copied().unwrap_or(0)
    }

    fn answers_text(&self) -> String {
        let mut parts: Vec<String> = self
            .answers
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        parts.sort();
        parts.join(", ")
    }
}

/// Posts `total` deliveries (cycling through `deliveries`) with `concurrency` in flight.
async fn load(
    http: &reqwest::Client,
    url: &str,
    deliveries: std::sync::Arc<Vec<Prepared>>,
    total: usize,
    concurrency: usize,
) -> Load {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let endpoint = format!("{url}/api/CfToHalo");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (http, endpoint, deliveries, next) = (
                http.clone(),
                endpoint.clone(),
                deliveries.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut answers: HashMap<String, usize> = HashMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let d = &deliveries[i % deliveries.len()];
                    let sent = Instant::now();
                    let response = http
                        .post(&endpoint)
                        .header("X-CF-Signature", &d.signature)
                        .header("X-CF-Timestamp", &d.timestamp)
                        .header("X-CF-Event-Id", &d.event_id)
                        .header("X-CF-Schema", "incident.created.v1")
                        .header("Content-Type", "application/json")
                        .body(d.body.clone())
                        .send()
                        .await;
                    let status = match response {
                        Ok(r) => {
                            let code = r.status().as_u16();
                            match r.bytes().await {
                                Ok(b) => serde_json::from_slice::<Value>(&b)
                                    .ok()
                                    .and_then(|v| v["status"].as_str().map(str::to_string))
                                    .unwrap_or_else(|| format!("HTTP {code}")),
                                Err(_) => "body cut off".to_string(),
                            }
                        }
                        Err(_) => "no answer".to_string(),
                    };
                    latencies.push(sent.elapsed());
                    *answers.entry(status).or_default() += 1;
                }
                (latencies, answers)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut answers: HashMap<String, usize> = HashMap::new();
    for (l, a) in join_all(workers).await.into_iter().flatten() {
        latencies.extend(l);
        for (k, v) in a {
            *answers.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Load {
        elapsed,
        latencies,
        answers,
    }
}

/// Halo calls (API, token) the sandbox has seen so far.
fn halo_calls(sandbox: &Sandbox) -> (usize, usize) {
    (sandbox.halo.api_requests(), sandbox.halo.token_requests())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A results row: figure, value, target, met or missed.
struct Row {
    figure: String,
    value: String,
    target: String,
    met: Option<bool>,
}

fn row(figure: &str, value: String, target: &str, met: Option<bool>) -> Row {
    Row {
        figure: figure.into(),
        value,
        target: target.into(),
        met,
    }
}

/// `bench`: cold start, new incidents at zero and 50 ms Halo latency, re-deliveries, peak RSS,
/// Halo calls; prints each figure next to its target. Exit 1 only when the bridge misbehaved
/// (wrong answers, Halo calls on re-deliveries), not for a missed target.
pub async fn bench(args: BenchArgs) -> ExitCode {
    match run_bench(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_bench(args: &BenchArgs) -> std::io::Result<bool> {
    if cfg!(debug_assertions) {
        eprintln!(
            "bench: warning: this is a debug build; run scripts/bench (cargo run --release -- bench) for real figures"
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sandbox = Sandbox::start().await?;
    let mut env: HashMap<String, String> = sandbox.settings().into_iter().collect();
    env.insert("CF_WEBHOOK_SECRET".into(), BENCH_SECRET.into());
    env.insert("HALO_WEBHOOK_SECRET".into(), BENCH_HALO_SECRET.into());
    env.insert("HALO_RATE_LIMIT".into(), "1000000/1".into());
    env.insert("LOG_FORMAT".into(), args.log_format.clone());
    env.insert("RUST_LOG".into(), "info".into());
    Settings::from_vars(&env).map_err(std::io::Error::other)?;

    println!(
        "cf-halo-bridge bench: {cores} CPU core(s); the handler is `{} serve` (LOG_FORMAT={}, RUST_LOG=info, log to /dev/null, STATE_STORE=memory, HALO_RATE_LIMIT=1000000/1);",
        std::env::current_exe()?.display(),
        args.log_format
    );
    println!(
        "the load client (reqwest, keep-alive, {} in flight) and the sandbox Halo run in this process on the same cores.",
        args.concurrency
    );
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let one_minute: f64 = load_avg
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    println!("load average before the run: {one_minute:.2}\n");
    if one_minute > 0.5 {
        eprintln!(
            "bench: warning: the machine is busy (load {one_minute:.2}); the figures will be lower than on a quiet machine"
        );
    }

    // Cold start: exec → GET / answered.
    let cold_env = env.clone();
    let n_cold = args.cold_starts;
    let colds = tokio::task::spawn_blocking(move || cold_starts(&cold_env, n_cold))
        .await
        .map_err(std::io::Error::other)??;
    let cold = colds[colds.len() / 2];
    println!(
        "cold start     {} runs: min {}, median {}, max {}",
        colds.len(),
        ms(colds[0]),
        ms(cold),
        ms(colds[colds.len() - 1])
    );

    let mut handler = spawn_handler(&env, args.handler_log.as_deref())?;
    let ready_since = Instant::now();
    let (handler, ready) = tokio::task::spawn_blocking(move || {
        let r = wait_ready(&mut handler, ready_since);
        (handler, r)
    })
    .await
    .map_err(std::io::Error::other)?;
    ready?;
    let url = handler.url.clone();
    let pid = handler.pid();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(std::io::Error::other)?;
    let mut ok = true;

    // Warm-up (connections, the token), not counted.
    let mut warm = prepare("warm", 0..args.concurrency.max(1) * 4);
    sign_all(&mut warm);
    let n_warm = warm.len();
    let warmed = load(
        &http,
        &url,
        std::sync::Arc::new(warm),
        n_warm,
        args.concurrency,
    )
    .await;
    if warmed.count("created") != n_warm {
        eprintln!("bench: warm-up answers: {}", warmed.answers_text());
        ok = false;
    }

    // New incidents, Halo answering in `halo_delay_ms`. First, while the sandbox holds few
    // tickets: its lookup scans every ticket under one lock on one thread, so after the
    // zero-latency phase its own queueing would add milliseconds that are not the handler's.
    let delay = Duration::from_millis(args.halo_delay_ms);
    sandbox.halo.set_delay(delay);
    let mut slow_set = prepare("slow", 0..args.slow_incidents);
    sign_all(&mut slow_set);
    let (api2, _) = halo_calls(&sandbox);
    let slow = load(
        &http,
        &url,
        std::sync::Arc::new(slow_set),
        args.slow_incidents,
        args.concurrency,
    )
    .await;
    sandbox.halo.set_delay(Duration::ZERO);
    let (api3, _) = halo_calls(&sandbox);
    println!(
        "slow Halo      {} in {:.2} s with {} ms per Halo call: {:.0}/s; p50 {}, p95 {}, p99 {}; {:.2} Halo calls each; answers: {}",
        args.slow_incidents,
        slow.elapsed.as_secs_f64(),
        args.halo_delay_ms,
        slow.rate(),
        ms(slow.percentile(0.50)),
        ms(slow.percentile(0.95)),
        ms(slow.percentile(0.99)),
        (api3 - api2) as f64 / args.slow_incidents.max(1) as f64,
        slow.answers_text()
    );
    if slow.count("created") != args.slow_incidents {
        ok = false;
    }

    // New incidents, zero-latency Halo.
    let mut fresh = prepare("new", 0..args.incidents);
    sign_all(&mut fresh);
    let fresh = std::sync::Arc::new(fresh);
    let (api0, tok0) = halo_calls(&sandbox);
    let cpu0 = cpu_time(pid);
    let own0 = cpu_time(std::process::id());
    let fast = load(&http, &url, fresh.clone(), args.incidents, args.concurrency).await;
    let cpu_fast = cpu_time(pid).zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let own_fast = cpu_time(std::process::id())
        .zip(own0)
        .map(|(b, a)| b.saturating_sub(a));
    let (api1, tok1) = halo_calls(&sandbox);
    let per_incident = (api1 - api0) as f64 / args.incidents.max(1) as f64;
    println!(
        "new incidents  {} in {:.2} s: {:.0}/s; p50 {}, p95 {}, p99 {}; answers: {}",
        args.incidents,
        fast.elapsed.as_secs_f64(),
        fast.rate(),
        ms(fast.percentile(0.50)),
        ms(fast.percentile(0.95)),
        ms(fast.percentile(0.99)),
        fast.answers_text()
    );
    if fast.count("created") != args.incidents {
        ok = false;
    }

    // Re-deliveries of the zero-latency phase's events: answered from the ledger.
    let mut again: Vec<Prepared> = fresh.iter().cloned().collect();
    drop(fresh);
    sign_all(&mut again);
    let (api4, tok4) = halo_calls(&sandbox);
    let cpu4 = cpu_time(pid);
    let dup = load(
        &http,
        &url,
        std::sync::Arc::new(again),
        args.redeliveries,
        args.concurrency,
    )
    .await;
    let cpu_dup = cpu_time(pid).zip(cpu4).map(|(b, a)| b.saturating_sub(a));
    let (api5, tok5) = halo_calls(&sandbox);
    let dup_calls = (api5 - api4) + (tok5 - tok4);
    println!(
        "re-deliveries  {} in {:.2} s: {:.0}/s; p50 {}, p99 {}; Halo calls {dup_calls}; answers: {}",
        args.redeliveries,
        dup.elapsed.as_secs_f64(),
        dup.rate(),
        ms(dup.percentile(0.50)),
        ms(dup.percentile(0.99)),
        dup.answers_text()
    );
    if dup.count("duplicate") != args.redeliveries || dup_calls != 0 {
        ok = false;
    }

    let peak = peak_rss_kib(pid);
    let tokens = sandbox.halo.token_requests();
    drop(handler);
    sandbox.stop().await;

    let per_request = |cpu: Option<Duration>, n: usize| {
        cpu.map_or_else(
            || "n/a".to_string(),
            |c| format!("{:.0} µs", c.as_secs_f64() * 1e6 / n.max(1) as f64),
        )
    };
    println!(
        "handler CPU    {} per new incident, {} per re-delivery (user + system, /proc/{pid}/stat)",
        per_request(cpu_fast, args.incidents),
        per_request(cpu_dup, args.redeliveries)
    );
    println!(
        "harness CPU    {} per new incident (this process: load client + sandbox Halo)",
        per_request(own_fast, args.incidents)
    );

    let peak_mib = peak.map(|k| k as f64 / 1024.0);
    let p99 = fast.percentile(0.99);
    let rows = vec![
        row(
            "cold start (exec → GET / answered), median",
            ms(cold),
            "≤ 50 ms",
            Some(cold <= Duration::from_millis(50)),
        ),
        row(
            "new incidents/s, zero-latency Halo",
            format!("{:.0}", fast.rate()),
            "≥ 5,000",
            Some(fast.rate() >= 5000.0),
        ),
        row(
            "  p50 / p95 latency",
            format!(
                "{} / {}",
                ms(fast.percentile(0.5)),
                ms(fast.percentile(0.95))
            ),
            "–",
            None,
        ),
        row(
            "  p99 latency",
            ms(p99),
            "≤ 10 ms",
            Some(p99 <= Duration::from_millis(10)),
        ),
        row(
            &format!("p50 latency, {} ms Halo", args.halo_delay_ms),
            ms(slow.percentile(0.5)),
            "≤ 110 ms",
            Some(slow.percentile(0.5) <= Duration::from_millis(110)),
        ),
        row(
            "  p95 / p99 latency; incidents/s",
            format!(
                "{} / {}; {:.0}",
                ms(slow.percentile(0.95)),
                ms(slow.percentile(0.99)),
                slow.rate()
            ),
            "–",
            None,
        ),
        row(
            "re-deliveries/s",
            format!("{:.0}", dup.rate()),
            "≥ 20,000",
            Some(dup.rate() >= 20_000.0),
        ),
        row(
            "Halo calls during re-deliveries",
            dup_calls.to_string(),
            "0",
            Some(dup_calls == 0),
        ),
        row(
            "peak RSS of the handler (VmHWM)",
            peak_mib.map_or("n/a".into(), |m| format!("{m:.1} MiB")),
            "≤ 30 MB",
            peak.map(|k| k * 1024 <= 30_000_000),
        ),
        row(
            "Halo API calls per new incident",
            format!("{per_incident:.2}"),
            "2 (lookup + create)",
            Some((per_incident - 2.0).abs() < 1e-9),
        ),
        row(
            "token calls (whole run, one process)",
            format!(
                "{tokens} ({} in the timed phases)",
                tok1 - tok0 + tok5 - tok4
            ),
            "1 per process",
            None,
        ),
    ];
    println!("\n| figure | value | target | |\n|---|---|---|---|");
    for r in &rows {
        let verdict = match r.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "",
        };
        println!("| {} | {} | {} | {verdict} |", r.figure, r.value, r.target);
    }
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.met == Some(false))
        .map(|r| r.figure.trim())
        .collect();
    println!();
    if !ok {
        println!("FAIL: the bridge answered something unexpected (see the answers above)");
    } else if missed.is_empty() {
        println!("every target met");
    } else {
        println!("targets missed: {}", missed.join("; "));
    }
    Ok(ok)
}
