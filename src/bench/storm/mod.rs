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
use crate::sandbox::{ArrayAnswers, RateLimit as HaloLimit};

mod figures;
mod senders;

use figures::{Runs, Seen, record, watch_tickets};
pub(super) use senders::fire_timer;
use senders::{event, send};

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
    /// How the sandbox Halo answers arrays: in-order, shuffled, last-only, refuse-all (one
    /// incident's ticket is refused, so its batch is split), or all (each in turn).
    #[arg(long, default_value = "in-order")]
    pub array: String,
    /// Every sandbox Halo call takes this long (a hosted Halo's usual answer time).
    #[arg(long, default_value_t = 200)]
    pub halo_latency_ms: u64,
    /// `HALO_BATCH_MAX` of the handler (1: one ticket per call, as before batching).
    #[arg(long, default_value_t = 20)]
    pub batch_max: usize,
}

/// The array behaviours `--array` names.
fn behaviours(name: &str) -> Option<Vec<(&'static str, ArrayAnswers, bool)>> {
    let all = [
        ("in-order", ArrayAnswers::InOrder, false),
        ("shuffled", ArrayAnswers::Shuffled, false),
        ("last-only", ArrayAnswers::LastOnly, false),
        ("refuse-all", ArrayAnswers::InOrder, true),
    ];
    match name {
        "all" => Some(all.to_vec()),
        one => all.iter().find(|(n, _, _)| *n == one).map(|b| vec![*b]),
    }
}

/// The incident whose ticket Halo refuses in `refuse-all`: a Low one in the middle of the storm.
pub(super) fn refused(n: usize) -> usize {
    (n / 2) | 2
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

/// `bench-storm`: prints one line per Reconcile run, then the results table, for each array
/// behaviour asked for; exit 1 when a target is missed or the bridge answered something
/// unexpected.
pub async fn storm(args: StormArgs) -> ExitCode {
    let Some(behaviours) = behaviours(&args.array) else {
        eprintln!(
            "bench-storm: --array is in-order, shuffled, last-only, refuse-all or all, not {:?}",
            args.array
        );
        return ExitCode::from(2);
    };
    let mut verdicts = Vec::new();
    for (name, answers, refuse) in behaviours {
        println!("\n== array answers: {name} ==");
        let passed = storm_once(&args, answers, refuse).await;
        verdicts.push((name, passed));
    }
    if verdicts.len() > 1 {
        println!("\n| array answers | every target met |\n|---|---|");
        for (name, passed) in &verdicts {
            println!("| {name} | {passed} |");
        }
    }
    if verdicts.iter().all(|(_, passed)| *passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn storm_once(args: &StormArgs, answers: ArrayAnswers, refuse: bool) -> bool {
    let limit = format!("{}/{}", args.calls, args.window_secs);
    let batch_max = args.batch_max.to_string();
    let local = start_local(&[
        ("CF_WEBHOOK_SECRET", CF_SECRET),
        ("HALO_RATE_LIMIT", &limit),
        ("HALO_BATCH_MAX", &batch_max),
    ])
    .await;
    let local = match local {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return false;
        }
    };
    let (sandbox, url) = (local.sandbox, local.url);
    sandbox.halo.set_rate_limit(Some(HaloLimit {
        calls: args.calls,
        window: Duration::from_secs(args.window_secs),
        retry_after: true,
    }));
    sandbox.halo.set_array_answers(answers);
    sandbox
        .halo
        .set_delay(Duration::from_millis(args.halo_latency_ms));
    if refuse {
        sandbox
            .halo
            .refuse_summaries_containing(Some(&senders::title(refused(args.incidents))));
    }
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
        "       Reconcile fired every {} s until every incident has a ticket (cap {} s);",
        every.as_secs(),
        cap.as_secs()
    );
    println!(
        "       each Halo call takes {} ms, HALO_BATCH_MAX={}, arrays answered {answers:?}{}\n",
        args.halo_latency_ms,
        args.batch_max,
        if refuse {
            format!(" and incident {} refused", refused(n))
        } else {
            String::new()
        }
    );

    // No proxy: everything is on loopback, whatever the environment says.
    let http = match reqwest::Client::builder().no_proxy().build() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return false;
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
    let expected = n - usize::from(refuse);
    while record(&sandbox.halo, &seen) < expected && start.elapsed() < cap {
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
                return false;
            }
        }
    }
    // One last look, so a ticket made by a sender's late re-delivery is seen.
    watcher.abort();
    record(&sandbox.halo, &seen);

    let refused = refuse.then(|| refused(n));
    let passed = figures::report(args, &sandbox.halo, start, &results, &seen, &runs, refused);
    local.handle.stop(false).await;
    sandbox.stop().await;
    passed
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
