//! `chaos`: the randomized fault test behind CONTRACT §13. For each seed: two handler processes
//! on one Azurite container, the sandbox fakes with bursts of 5xx and 429, latency, writes whose
//! answers are lost (and that Halo completes late, or never), SIGKILL and restart of either
//! process, ContraForce senders that retry a few times and stop, Halo webhooks that sometimes
//! never come or come twice, analysts commenting and closing in ContraForce, and one poison
//! incident whose ContraForce calls fail for good. Then the faults stop and the timer runs until
//! quiet, and the invariants are checked. A failure prints its seed; the same seed replays the
//! same schedule (`schedule`).

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sandbox::azurite::Azurite;
use crate::sandbox::{Fault, WriteFate, WriteKind};

mod checks;
mod schedule;
mod world;

use schedule::Step;
use world::World;

/// Arguments of `chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// Seeds to run: `1-50`, `7`, or `1,4,9`.
    #[arg(long, default_value = "1-50")]
    pub seeds: String,
    /// Incidents per seed (incident 0 is the poison one).
    #[arg(long, default_value_t = 8)]
    pub incidents: usize,
    /// Random steps per seed, after each incident's first delivery.
    #[arg(long, default_value_t = 80)]
    pub steps: usize,
}

/// Parses `1-50`, `7` or `1,4,9`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?} is not a seed or a range such as 1-50");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(part.parse().map_err(|_| bad())?),
        }
    }
    if seeds.is_empty() {
        return Err("no seeds".into());
    }
    Ok(seeds)
}

/// What a seed's run saw and did, for its checks and its row.
#[derive(Default)]
pub(super) struct Ledger {
    /// Per incident: its events, and whether a delivery of each was answered 200 or 503.
    pub(super) events: Vec<Vec<(String, bool)>>,
    /// `(incident, text)` of the public agent notes.
    pub(super) public_notes: Vec<(usize, String)>,
    /// `(incident, text)` of the private ones.
    pub(super) private_notes: Vec<(usize, String)>,
    /// `(incident, text, made after the incident was closed)` of the analysts' comments.
    pub(super) comments: Vec<(usize, String, bool)>,
    /// Incidents closed in Halo, and in ContraForce (one or the other, once).
    pub(super) halo_closed: BTreeSet<usize>,
    pub(super) cf_closed: BTreeSet<usize>,
    pub(super) deliveries: [usize; 3],
    pub(super) kills: usize,
    pub(super) timer_runs: usize,
}

impl Ledger {
    fn closed(&self, k: usize) -> bool {
        self.halo_closed.contains(&k) || self.cf_closed.contains(&k)
    }
}

/// Incident `k`'s id; its reference is `cf|sentinel|{id}`.
pub(super) fn incident_id(k: usize) -> String {
    format!("chaos-{k}")
}

fn incident(k: usize) -> Value {
    let mut body: Value =
        serde_json::from_str(include_str!("../../tests/data/cf-incident-created.json"))
            .expect("embedded fixture is JSON");
    body["data"]["incidentId"] = json!(incident_id(k));
    body["data"]["incidentNumber"] = json!(k);
    body
}

/// Runs every seed; exit 1 when any broke an invariant.
pub async fn run(args: ChaosArgs) -> ExitCode {
    let seeds = match parse_seeds(&args.seeds) {
        Ok(seeds) => seeds,
        Err(e) => {
            eprintln!("chaos: --seeds: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "| seed | tickets | deliveries 200/503/no answer | kills | timer runs | runs to quiet | forwarded | notes to Halo | seconds | result |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut failed = Vec::new();
    for seed in seeds {
        // A fresh emulator per seed: Azurite slows down as it accumulates earlier seeds'
        // containers, and a seed replayed alone then meets the same store it first ran against.
        let azurite = match Azurite::start_in_memory() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("chaos: {e}");
                return ExitCode::FAILURE;
            }
        };
        match one(seed, &azurite, &args).await {
            Ok(()) => {}
            Err(problems) => {
                eprintln!("seed {seed} broke the invariants:");
                for p in &problems {
                    eprintln!("  - {p}");
                }
                eprintln!("  replay it with: cargo run --release -- chaos --seeds {seed}");
                failed.push(seed);
            }
        }
    }
    if failed.is_empty() {
        println!("\nevery seed kept every invariant");
        ExitCode::SUCCESS
    } else {
        println!("\nseeds that broke an invariant: {failed:?}");
        ExitCode::FAILURE
    }
}

/// One seed: its schedule, the quiet phase, the checks, one table row.
async fn one(seed: u64, azurite: &Azurite, args: &ChaosArgs) -> Result<(), Vec<String>> {
    let started = Instant::now();
    let mut world = World::start(azurite, seed)
        .await
        .map_err(|e| vec![format!("could not start: {e}")])?;
    let incidents = args.incidents.max(2);
    let mut ledger = Ledger {
        events: vec![Vec::new(); incidents],
        ..Ledger::default()
    };
    // The poison incident: every ContraForce call about it fails, for good.
    let poison = format!(
        "/api/v2/workspaces/{}/incidents/Sentinel/{}",
        world.sandbox.cf.workspace_id(),
        incident_id(0)
    );
    world.sandbox.cf.push_fault(
        Fault {
            method: None,
            path_prefix: Some(poison),
            ..Fault::any(503, r#"{"message":"incident unavailable"}"#)
        }
        .forever(),
    );
    for (i, step) in schedule::schedule(seed, incidents, args.steps)
        .into_iter()
        .enumerate()
    {
        apply(&mut world, &mut ledger, i, step).await;
    }
    let runs = quiet(&mut world).await;
    let problems = checks::check(&world, &ledger, runs);
    let tickets = world.sandbox.halo.tickets().len();
    let forwarded = world.sandbox.cf.comments().len();
    let notes_to_halo = checks::notes_to_halo(&world);
    println!(
        "| {seed} | {tickets} | {}/{}/{} | {} | {} | {} | {forwarded} | {notes_to_halo} | {:.1} | {} |",
        ledger.deliveries[0],
        ledger.deliveries[1],
        ledger.deliveries[2],
        ledger.kills,
        ledger.timer_runs,
        runs.map_or("never".to_string(), |r| r.to_string()),
        started.elapsed().as_secs_f64(),
        if problems.is_empty() { "ok" } else { "FAILED" }
    );
    world.stop(!problems.is_empty()).await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The ticket of incident `k`, if Halo has one (the lowest id, as the bridge links).
fn ticket_of(world: &World, k: usize) -> Option<u64> {
    let reference = format!("cf|sentinel|{}", incident_id(k));
    world
        .sandbox
        .halo
        .tickets()
        .into_iter()
        .filter(|t| t.third_party_id_string.as_deref() == Some(reference.as_str()))
        .map(|t| t.id)
        .min()
}

async fn apply(world: &mut World, ledger: &mut Ledger, i: usize, step: Step) {
    let halo = world.sandbox.halo.clone();
    let cf = world.sandbox.cf.clone();
    match step {
        Step::Deliver { k, to } => {
            let event_id = format!("evt-{k}-{i}");
            let mut accepted = false;
            // ContraForce's finite retries: a 503 or no answer is delivered again, three times.
            for attempt in 0..4 {
                let target = (to + attempt) % 2;
                match world.deliver(target, &event_id, &incident(k)).await {
                    Some(200) => {
                        ledger.deliveries[0] += 1;
                        accepted = true;
                        break;
                    }
                    Some(503) => {
                        ledger.deliveries[1] += 1;
                        accepted = true;
                    }
                    Some(_) => {
                        ledger.deliveries[0] += 1;
                        break;
                    }
                    None => ledger.deliveries[2] += 1,
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            ledger.events[k].push((event_id, accepted));
        }
        Step::HaloNote {
            k,
            public,
            to,
            resend,
        } => {
            let Some(ticket) = ticket_of(world, k) else {
                return;
            };
            let text = format!(
                "note {i} on {k}, {}",
                if public { "public" } else { "private" }
            );
            halo.add_agent_note(ticket, "Jane Tech", 3, &format!("<p>{text}</p>"), !public);
            if public {
                ledger.public_notes.push((k, text));
            } else {
                ledger.private_notes.push((k, text));
            }
            if let Some(to) = to {
                world.webhook(to, ticket, resend).await;
            }
        }
        Step::HaloClose { k, to, resend } => {
            let Some(ticket) = ticket_of(world, k) else {
                return;
            };
            if ledger.closed(k) {
                return;
            }
            halo.close(ticket);
            ledger.halo_closed.insert(k);
            if let Some(to) = to {
                world.webhook(to, ticket, resend).await;
            }
        }
        Step::Comment { k } => {
            if ticket_of(world, k).is_none() {
                return;
            }
            let text = format!("analyst comment {i} on {k}");
            cf.add_comment(&cf.workspace_id(), &incident_id(k), "Ann Analyst", &text);
            ledger.comments.push((k, text, ledger.closed(k)));
        }
        Step::CfClose { k } => {
            if ticket_of(world, k).is_none() || ledger.closed(k) {
                return;
            }
            cf.close_incident(
                &cf.workspace_id(),
                &incident_id(k),
                "Ann Analyst",
                "Benign.",
            );
            ledger.cf_closed.insert(k);
        }
        Step::HaloBurst { n, status } => {
            for _ in 0..n {
                halo.push_fault(Fault::any(status, r#"{"error":"chaos"}"#).with_retry_after("1"));
            }
        }
        Step::CfBurst { n, status } => {
            for _ in 0..n {
                cf.push_fault(Fault::any(status, r#"{"message":"chaos"}"#).with_retry_after("1"));
            }
        }
        Step::HaloLatency(delay) => halo.set_delay(delay),
        Step::LoseTicketWrite(after) => halo.lose_next_answer(
            WriteKind::Tickets,
            after.map_or(WriteFate::Never, WriteFate::CompleteAfter),
        ),
        Step::LoseNote => {
            halo.lose_next_answer(WriteKind::Actions, WriteFate::CompleteAfter(Duration::ZERO))
        }
        Step::LoseComment => cf.lose_next_comment_answer(),
        Step::Kill { n } => {
            world.kill(n);
            ledger.kills += 1;
            if let Err(e) = world.start_proc(n).await {
                tracing::error!(error = %e, "handler did not start again");
            }
        }
        Step::Timer { on } => {
            if world.timer(on).await.is_some() {
                ledger.timer_runs += 1;
            }
        }
    }
}

/// The quiet phase gets at least this many timer runs…
const QUIET_RUNS: usize = 40;
/// …and at least this long: longer than a reconcile claim a failed release leaves behind lasts
/// (the run's deadline, 60 s here, + its margin) and one more run, so a storage hiccup that
/// stops runs early is waited out as the next timer would wait it out.
const QUIET_AT_LEAST: Duration = Duration::from_secs(150);

/// Faults off, then timer runs until two in a row find nothing to do; the runs it took.
async fn quiet(world: &mut World) -> Option<usize> {
    let (halo, cf) = (world.sandbox.halo.clone(), world.sandbox.cf.clone());
    halo.clear_faults();
    cf.clear_faults();
    halo.set_delay(Duration::ZERO);
    halo.clear_fates();
    for n in 0..2 {
        if !world.running(n) && world.start_proc(n).await.is_err() {
            return None;
        }
    }
    // Past the create grace and every write Halo completes late.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut idle = 0;
    let started = Instant::now();
    for run in 1.. {
        if run > QUIET_RUNS && started.elapsed() > QUIET_AT_LEAST {
            break;
        }
        let Some(summary) = world.timer(run % 2).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let work = [
            "eventsRedriven",
            "commentsForwarded",
            "closesMirrored",
            "notesToHalo",
        ]
        .iter()
        .map(|k| summary[k].as_u64().unwrap_or(0))
        .sum::<u64>();
        idle = if work == 0 && summary["complete"] == true {
            idle + 1
        } else {
            0
        };
        if idle == 2 {
            return Some(run);
        }
        if summary["complete"] != true {
            // Stopped early (a claim still held, the store unreachable): give it a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_read_as_ranges_lists_or_one() {
        assert_eq!(parse_seeds("1-3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_seeds("7").unwrap(), [7]);
        assert_eq!(parse_seeds("1,4, 9").unwrap(), [1, 4, 9]);
        for bad in ["", "3-1", "x", "1-"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
    }
}
