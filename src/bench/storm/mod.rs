//! `bench-storm`: an incident storm against a rate-limited sandbox Halo, in process.
//!
//! More new incidents arrive than Halo's budget can take in the time ContraForce keeps
//! re-delivering, so some senders give up; the `Reconcile` timer (CONTRACT §9) must then finish
//! the parked events, most severe first, within its share of the budget. The benchmark fires the
//! timer itself, as the Functions host would, and reports how the storm drained: one ticket per
//! incident, no 429, Halo calls against the minimum, and whether High incidents got their
//! tickets before Low ones.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{CF_SECRET, incident};
use crate::local::start_local;
use crate::sandbox::RateLimit as HaloLimit;

mod figures;
mod senders;

use figures::{Runs, Seen, record, watch_tickets};
use senders::{event, fire_timer, send};

/// How often the ticket watcher looks at the sandbox Halo: the resolution of time-to-ticket.
const POLL: Duration = Duration::from_millis(200);

/// Arguments of `bench-storm`; the defaults are the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    /// New incidents: one in four High, the others Medium, Low and Informational in turn.
    #[arg(long, default_value_t = 300)]
    pub incidents: usize,
    /// Seconds over which the incidents' first deliveries are spread evenly.
    #[arg(long, default_value_t = 30)]
    pub spread_secs: u64,
    /// Calls the sandbox Halo (and the handler's HALO_RATE_LIMIT) allow per window.
    #[arg(long, default_value_t = 150)]
    pub calls: u32,
    /// Window length in seconds.
    #[arg(long, default_value_t = 30)]
    pub window_secs: u64,
    /// Re-deliveries after a 503 before a sender gives up, as ContraForce's finite retries do.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Seconds between two firings of the Reconcile timer.
    #[arg(long, default_value_t = 10)]
    pub reconcile_every_secs: u64,
    /// Stop waiting for the last tickets after this many seconds from the first post.
    #[arg(long, default_value_t = 900)]
    pub cap_secs: u64,
}

/// The incident's severity, by index: deterministic, so every run is the same storm.
pub(super) fn severity(n: usize) -> &'static str {
    match n % 4 {
        0 => "High",
        1 => "Medium",
        2 => "Low",
        _ => "Informational",
    }
}

/// The incident id of incident `n`; the ticket's reference ends with it.
pub(super) fn incident_id(n: usize) -> String {
    format!("storm-{n}")
}

/// Incident `n` of the storm from its reference (`cf|source|storm-n`), for tickets in Halo.
pub(super) fn index_of(reference: &str) -> Option<usize> {
    reference
        .rsplit('|')
        .next()?
        .strip_prefix("storm-")?
        .parse()
        .ok()
}

/// `bench-storm`: prints one line per Reconcile run, then the results table; exit 1 when a
/// target is missed or the bridge answered something unexpected.
pub async fn storm(args: StormArgs) -> ExitCode {
    let limit = format!("{}/{}", args.calls, args.window_secs);
    let local = start_local(&[
        ("CF_WEBHOOK_SECRET", CF_SECRET),
        ("HALO_RATE_LIMIT", &limit),
    ])
    .await;
    let local = match local {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (sandbox, url) = (local.sandbox, local.url);
    sandbox.halo.set_rate_limit(Some(HaloLimit {
        calls: args.calls,
        window: Duration::from_secs(args.window_secs),
        retry_after: true,
    }));
    let n = args.incidents;
    let every = Duration::from_secs(args.reconcile_every_secs.max(1));
    let cap = Duration::from_secs(args.cap_secs);
    let gap = Duration::from_secs(args.spread_secs) / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    println!(
        "storm: {n} new incidents (one in four High), one every {} ms; sandbox Halo allows {} calls per rolling {} s",
        gap.as_millis(),
        args.calls,
        args.window_secs
    );
    println!(
        "       HALO_RATE_LIMIT={limit}, RECONCILE_BUDGET_SHARE default; each sender re-delivers a 503 at most {} times;",
        args.retries
    );
    println!(
        "       Reconcile fired every {} s until every incident has a ticket (cap {} s)\n",
        every.as_secs(),
        cap.as_secs()
    );

    // No proxy: everything is on loopback, whatever the environment says.
    let http = match reqwest::Client::builder().no_proxy().build() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seen: Seen = Arc::new(Mutex::new(vec![None; n]));
    let watcher = tokio::spawn(watch_tickets(sandbox.halo.clone(), seen.clone()));
    let start = Instant::now();
    let sending = Arc::new(AtomicUsize::new(n));
    let fixture = incident();
    let senders: Vec<_> = (0..n)
        .map(|i| {
            let (http, url, sending) = (http.clone(), url.clone(), sending.clone());
            let event = event(&fixture, i);
            let at = start + gap * u32::try_from(i).unwrap_or(u32::MAX);
            let retries = args.retries;
            tokio::spawn(async move {
                let sender = send(http, url, event, at, retries).await;
                sending.fetch_sub(1, Ordering::Relaxed);
                sender
            })
        })
        .collect();

    // The host's timer: a run that is still going delays the next firing, as a singleton
    // timer does, rather than piling up runs that would only find the claim held.
    let mut timer = tokio::time::interval_at((start + every).into(), every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut runs = Runs::default();
    while record(&sandbox.halo, &seen) < n && start.elapsed() < cap {
        tokio::select! {
            _ = timer.tick() => {}
            // Checked between firings too, so the storm ends as soon as the last ticket exists.
            _ = tokio::time::sleep(POLL) => continue,
        }
        let fired = start.elapsed();
        let result = fire_timer(&http, &url, every).await;
        runs.count += 1;
        match result {
            Ok(summary) => {
                let field = |name: &str| summary[name].as_u64().unwrap_or(0);
                runs.redriven += field("eventsRedriven");
                runs.calls += field("haloCalls");
                println!(
                    "  run {:>3} at {:>6.1} s ({:>5.1} s): eventsRedriven {:>3}, eventsFailed {}, haloCalls {:>3}, complete {:<5} | tickets {:>3}/{n}, senders still trying {}",
                    runs.count,
                    fired.as_secs_f64(),
                    (start.elapsed() - fired).as_secs_f64(),
                    field("eventsRedriven"),
                    field("eventsFailed"),
                    field("haloCalls"),
                    summary["complete"].as_bool().unwrap_or(false),
                    record(&sandbox.halo, &seen),
                    sending.load(Ordering::Relaxed)
                );
            }
            Err(e) => {
                println!(
                    "  run {:>3} at {:>6.1} s: answered {e}",
                    runs.count,
                    fired.as_secs_f64()
                );
                runs.errors.push(e);
            }
        }
    }
    let mut results = Vec::with_capacity(n);
    for sender in senders {
        match sender.await {
            Ok(s) => results.push(s),
            Err(e) => {
                eprintln!("a sender failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // One last look, so a ticket made by a sender's late re-delivery is seen.
    watcher.abort();
    record(&sandbox.halo, &seen);

    let passed = figures::report(&args, &sandbox.halo, start, &results, &seen, &runs);
    local.handle.stop(false).await;
    sandbox.stop().await;
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_the_storm_is_high_and_references_map_back() {
        let high = (0..300).filter(|i| severity(*i) == "High").count();
        assert_eq!(high, 75);
        assert_eq!(index_of("cf|sentinel|storm-42"), Some(42));
        assert_eq!(index_of("cf|sentinel|other-42"), None);
    }
}
