//! `bench`: the release handler as its own process against the sandbox: cold start, new
//! incidents at zero and slow Halo latency, re-deliveries, CPU, peak RSS, Halo calls.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use super::CF_SECRET;
use super::handler::{self, peak_rss_kib};
use super::phases::{Driver, Phase};
use super::report::{self, Row, ms, row};
use crate::sandbox::Sandbox;
use crate::settings::Settings;

const HALO_SECRET: &str = "bench-halo-shared-secret";

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

/// The handler's whole environment: the sandbox's settings, the webhook secrets, a budget
/// that never throttles, and the log format asked for.
fn handler_env(sandbox: &Sandbox, args: &BenchArgs) -> std::io::Result<HashMap<String, String>> {
    let mut env: HashMap<String, String> = sandbox.settings().into_iter().collect();
    env.insert("CF_WEBHOOK_SECRET".into(), CF_SECRET.into());
    env.insert("HALO_WEBHOOK_SECRET".into(), HALO_SECRET.into());
    env.insert("HALO_RATE_LIMIT".into(), "1000000/1".into());
    env.insert("LOG_FORMAT".into(), args.log_format.clone());
    env.insert("RUST_LOG".into(), "info".into());
    Settings::from_vars(&env).map_err(std::io::Error::other)?;
    Ok(env)
}

/// What is measured, on what: the cores, the handler, the client, and how busy the machine is.
fn print_setup(args: &BenchArgs) -> std::io::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
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
    Ok(())
}

/// Cold start: exec → `GET /` answered, `args.cold_starts` times; the median.
async fn cold_start(env: &HashMap<String, String>, args: &BenchArgs) -> std::io::Result<Duration> {
    let colds = handler::cold_starts(env, args.cold_starts).await?;
    let cold = colds[colds.len() / 2];
    println!(
        "cold start     {} runs: min {}, median {}, max {}",
        colds.len(),
        ms(colds[0]),
        ms(cold),
        ms(colds[colds.len() - 1])
    );
    Ok(cold)
}

/// Everything the results table is made of.
struct Figures {
    cold: Duration,
    slow: Phase,
    fast: Phase,
    dup: Phase,
    peak_kib: Option<u64>,
    tokens: usize,
}

async fn run_bench(args: &BenchArgs) -> std::io::Result<bool> {
    if cfg!(debug_assertions) {
        eprintln!(
            "bench: warning: this is a debug build; run scripts/bench (cargo run --release -- bench) for real figures"
        );
    }
    let sandbox = Sandbox::start().await?;
    let env = handler_env(&sandbox, args)?;
    print_setup(args)?;
    let cold = cold_start(&env, args).await?;

    let handler = handler::start(&env, args.handler_log.as_deref()).await?;
    let pid = handler.pid();
    let driver = Driver::new(&sandbox, args, &handler)?;
    let warmed = driver.warm_up().await;
    let slow = driver.slow_halo().await;
    let (fast, fresh) = driver.new_incidents().await;
    let dup = driver.redeliveries(fresh).await;
    let ok = warmed && slow.as_expected && fast.as_expected && dup.as_expected;

    let peak_kib = peak_rss_kib(pid);
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
        per_request(fast.handler_cpu, args.incidents),
        per_request(dup.handler_cpu, args.redeliveries)
    );
    println!(
        "harness CPU    {} per new incident (this process: load client + sandbox Halo)",
        per_request(fast.own_cpu, args.incidents)
    );

    let figures = Figures {
        cold,
        slow,
        fast,
        dup,
        peak_kib,
        tokens,
    };
    report::print(&rows(&figures, args), ok);
    Ok(ok)
}

/// Each figure next to its target.
fn rows(f: &Figures, args: &BenchArgs) -> Vec<Row> {
    let (fast, slow, dup) = (&f.fast.load, &f.slow.load, &f.dup.load);
    let per_incident = f.fast.api_calls as f64 / args.incidents.max(1) as f64;
    let dup_calls = f.dup.api_calls + f.dup.token_calls;
    let peak_mib = f.peak_kib.map(|k| k as f64 / 1024.0);
    let p99 = fast.percentile(0.99);
    vec![
        row(
            "cold start (exec → GET / answered), median",
            ms(f.cold),
            "≤ 50 ms",
            Some(f.cold <= Duration::from_millis(50)),
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
            f.peak_kib.map(|k| k * 1024 <= 30_000_000),
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
                "{} ({} in the timed phases)",
                f.tokens,
                f.fast.token_calls + f.dup.token_calls
            ),
            "1 per process",
            None,
        ),
    ]
}
