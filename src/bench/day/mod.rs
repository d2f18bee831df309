//! `bench-day`: one simulated day of an MSP (CONTRACT §12), compressed in time, run twice against
//! a fresh sandbox each: as the bridge runs (group commit, webhook and sweep savings) and one Halo
//! call per object (`HALO_BATCH_MAX=1`, `HALO_CALL_SAVINGS=off`). Prints Halo calls by kind, per
//! hour and in the busiest five-minute slot as a share of hosted Halo's 300, side by side, with
//! the targets: the busiest slot ≤ 20 % of 300, the day ≤ a third of the one-per-object day.
//!
//! Each slot plays its acts (a burst's incidents at once, the rest one after another, as they
//! would come minutes apart), then fires the Reconcile timer. Halo's budget is lifted in both runs:
//! the benchmark measures what each would spend, not what a budget would let through.

mod plan;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::storm::fire_timer;
use super::{CF_SECRET, incident};
use crate::local::start_local;
use crate::sandbox::{Sandbox, SignedEvent, WebhookAuth};
use plan::{Act, Day, SLOTS, Shape};

const HALO_SECRET: &str = "bench-halo-shared-secret";
const VERDICT: &str = include_str!("../../../tests/data/cf-agent-investigation.json");
/// Hosted Halo's budget per rolling five minutes.
const HALO_BUDGET_5_MIN: usize = 300;
/// Halo agent who works the tickets in the simulated day (not the integration's agent).
const AGENT_ID: u64 = 3;

/// Arguments of `bench-day`.
#[derive(Debug, Clone, clap::Args)]
pub struct DayArgs {
    /// Draws the day (the same seed, the same day).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Incidents arriving one by one over the day.
    #[arg(long, default_value_t = 100)]
    pub incidents: usize,
    /// Bursts of incidents (an attack: many at once).
    #[arg(long, default_value_t = 3)]
    pub bursts: usize,
    /// Incidents per burst.
    #[arg(long, default_value_t = 25)]
    pub burst_size: usize,
    /// Halo ticket updates (webhooks) over the day; a fifth on CF-linked tickets.
    #[arg(long, default_value_t = 2_000)]
    pub halo_updates: usize,
    /// The MSP's other open tickets in Halo (not CF-linked).
    #[arg(long, default_value_t = 400)]
    pub other_tickets: usize,
    /// Every sandbox Halo call takes this long.
    #[arg(long, default_value_t = 20)]
    pub halo_latency_ms: u64,
}

/// What one run of the day cost.
struct Spent {
    label: &'static str,
    per_slot: Vec<usize>,
    by_kind: BTreeMap<String, usize>,
    tickets: usize,
    unexpected: Vec<String>,
    wall: Duration,
}

impl Spent {
    fn total(&self) -> usize {
        self.per_slot.iter().sum()
    }

    fn busiest(&self) -> (usize, usize) {
        self.per_slot
            .iter()
            .enumerate()
            .max_by_key(|(slot, calls)| (**calls, std::cmp::Reverse(*slot)))
            .map_or((0, 0), |(slot, calls)| (slot, *calls))
    }
}

/// `bench-day`: both runs, then the tables; exit 1 when a target is missed or the bridge
/// answered something unexpected.
pub async fn day(args: DayArgs) -> ExitCode {
    let shape = Shape {
        incidents: args.incidents,
        bursts: args.bursts,
        burst_size: args.burst_size,
        halo_updates: args.halo_updates,
        other_tickets: args.other_tickets,
    };
    let day = plan::day(args.seed, shape);
    println!(
        "day {}: {} incidents ({} one by one, {} bursts of {}), {} Halo ticket updates (a fifth on CF-linked tickets), {} other open tickets; a Reconcile run every 5-minute slot; each Halo call takes {} ms",
        args.seed,
        day.incidents,
        args.incidents,
        args.bursts,
        args.burst_size,
        args.halo_updates,
        args.other_tickets,
        args.halo_latency_ms
    );
    let mut runs = Vec::new();
    for (label, extra) in [
        ("batched (defaults)", &[][..]),
        (
            "one per object",
            &[("HALO_BATCH_MAX", "1"), ("HALO_CALL_SAVINGS", "off")][..],
        ),
    ] {
        println!("\nrunning the day {label} …");
        match run_day(&day, &args, label, extra).await {
            Ok(spent) => {
                println!(
                    "  {} Halo calls, {} tickets, {:.0} s",
                    spent.total(),
                    spent.tickets,
                    spent.wall.as_secs_f64()
                );
                runs.push(spent);
            }
            Err(e) => {
                eprintln!("bench-day: cannot run the day {label}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if report(&runs, day.incidents) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Plays the day against a fresh sandbox and handler with `extra` settings.
async fn run_day(
    day: &Day,
    args: &DayArgs,
    label: &'static str,
    extra: &[(&str, &str)],
) -> std::io::Result<Spent> {
    let mut settings = vec![
        ("CF_WEBHOOK_SECRET", CF_SECRET),
        ("HALO_WEBHOOK_SECRET", HALO_SECRET),
        ("HALO_CLOSE_ON_CF_CLOSE", "true"),
        ("HALO_RATE_LIMIT", "1000000/300"),
        ("RECONCILE_RETRY_SECONDS", "0"),
        // A compressed slot lasts a fraction of a second: the default two minutes of overlap
        // would have every sweep re-read the last several hundred slots.
        ("RECONCILE_SWEEP_OVERLAP_SECONDS", "0"),
    ];
    settings.extend_from_slice(extra);
    let local = start_local(&settings).await?;
    let (sandbox, url) = (local.sandbox, local.url);
    let others: Vec<u64> = (0..args.other_tickets)
        .map(|j| sandbox.halo.insert_ticket(&format!("MSP ticket {j}"), None))
        .collect();
    sandbox
        .halo
        .set_delay(Duration::from_millis(args.halo_latency_ms));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(std::io::Error::other)?;
    let player = Player {
        sandbox: &sandbox,
        url: &url,
        others: &others,
    };
    let started = Instant::now();
    let mut per_slot = Vec::with_capacity(SLOTS);
    let mut unexpected = Vec::new();
    let mut before = calls(&sandbox);
    for (slot, acts) in day.slots.iter().enumerate() {
        let burst: Vec<&Act> = acts
            .iter()
            .filter(|a| matches!(a, Act::Incident(_)))
            .collect();
        let answers = join_all(burst.iter().map(|a| player.play(**a, slot))).await;
        unexpected.extend(answers.into_iter().flatten());
        for act in acts.iter().filter(|a| !matches!(a, Act::Incident(_))) {
            unexpected.extend(player.play(*act, slot).await);
        }
        if let Err(e) = fire_timer(&http, &url, Duration::from_secs(300)).await {
            unexpected.push(format!("slot {slot}: timer: {e}"));
        }
        let now = calls(&sandbox);
        per_slot.push(now - before);
        before = now;
        if slot % 12 == 11 {
            let hour: usize = per_slot[slot - 11..].iter().sum();
            println!(
                "  {:02}:00 {hour} Halo calls ({:.0} s so far)",
                slot / 12,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let spent = Spent {
        label,
        per_slot,
        by_kind: sandbox.halo.calls_by_kind(),
        tickets: sandbox
            .halo
            .tickets()
            .iter()
            .filter(|t| {
                t.third_party_id_string
                    .as_deref()
                    .is_some_and(|r| !r.is_empty())
            })
            .count(),
        unexpected,
        wall: started.elapsed(),
    };
    local.handle.stop(true).await;
    sandbox.stop().await;
    Ok(spent)
}

/// Halo calls so far, the token's included.
fn calls(sandbox: &Sandbox) -> usize {
    sandbox.halo.api_requests() + sandbox.halo.token_requests()
}

/// Plays acts against one sandbox and handler.
struct Player<'a> {
    sandbox: &'a Sandbox,
    url: &'a str,
    others: &'a [u64],
}

impl Player<'_> {
    /// Plays `act`; what went unexpectedly, if anything.
    async fn play(&self, act: Act, slot: usize) -> Option<String> {
        let (halo, cf) = (&self.sandbox.halo, &self.sandbox.cf);
        let ws = cf.workspace_id();
        let problem = match act {
            Act::Incident(k) => {
                self.post(&format!("day-{k}-created"), incident_body(k))
                    .await
            }
            Act::Update(k) => {
                let mut body = incident_body(k);
                body["type"] = json!("incident.updated.v1");
                body["data"]["severity"] = json!("High");
                self.post(&format!("day-{k}-updated"), body).await
            }
            Act::Verdict(k) => {
                self.post(&format!("day-{k}-verdict"), verdict_body(k))
                    .await
            }
            Act::Comment(k) => {
                cf.add_comment(
                    &ws,
                    &incident_id(k),
                    "Ann Analyst",
                    "Looked at the sign-ins.",
                );
                None
            }
            Act::CfClose(k) => {
                cf.close_incident(&ws, &incident_id(k), "Ann Analyst", "Benign: closing.");
                None
            }
            Act::HaloNote { k, public } => match self.ticket_of(k) {
                Some(ticket) => {
                    let note = if public {
                        "<p>Called the user: it was them.</p>"
                    } else {
                        "<p>Internal: checked the firewall logs.</p>"
                    };
                    halo.add_agent_note(ticket, "Sam Tech", AGENT_ID, note, !public);
                    self.webhook(ticket).await
                }
                None => Some(format!("incident {k} has no ticket for a Halo note")),
            },
            Act::HaloClose(k) => match self.ticket_of(k) {
                Some(ticket) => {
                    halo.close(ticket);
                    self.webhook(ticket).await
                }
                None => Some(format!("incident {k} has no ticket to close")),
            },
            Act::Unlinked(j) => {
                let ticket = self.others[j % self.others.len().max(1)];
                halo.add_agent_note(ticket, "Sam Tech", AGENT_ID, "<p>Printer fixed.</p>", false);
                self.webhook(ticket).await
            }
        };
        problem.map(|p| format!("slot {slot}: {act:?}: {p}"))
    }

    async fn post(&self, event_id: &str, body: Value) -> Option<String> {
        let url = format!("{}/api/CfToHalo", self.url);
        let event = SignedEvent::new(event_id, body, CF_SECRET);
        match self.sandbox.cf.send_event(&url, &event).await {
            Ok((200, _)) => None,
            Ok((status, answer)) => Some(format!("{status} {answer}")),
            Err(e) => Some(e),
        }
    }

    async fn webhook(&self, ticket: u64) -> Option<String> {
        let auth = WebhookAuth::Header {
            name: "X-Halo-Secret".into(),
            value: HALO_SECRET.into(),
        };
        let url = format!("{}/api/HaloToCf", self.url);
        match self
            .sandbox
            .halo
            .send_webhook(&url, ticket, "ticket updated", &auth)
            .await
        {
            Ok(r) if r.status == 200 => None,
            Ok(r) => Some(format!("{} {}", r.status, r.body)),
            Err(e) => Some(e),
        }
    }

    fn ticket_of(&self, k: usize) -> Option<u64> {
        let reference = format!("cf|sentinel|{}", incident_id(k));
        self.sandbox
            .halo
            .tickets()
            .iter()
            .filter(|t| t.third_party_id_string.as_deref() == Some(reference.as_str()))
            .map(|t| t.id)
            .min()
    }
}

fn incident_id(k: usize) -> String {
    format!("day-incident-{k}")
}

fn incident_body(k: usize) -> Value {
    let mut body = incident();
    body["data"]["incidentId"] = json!(incident_id(k));
    body["data"]["incidentNumber"] = json!(k + 1);
    body["data"]["title"] = json!(format!("Day incident {k}"));
    let now = time::OffsetDateTime::now_utc();
    body["data"]["createdAt"] = json!(
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    );
    body
}

fn verdict_body(k: usize) -> Value {
    let mut body: Value = serde_json::from_str(VERDICT).expect("embedded fixture is JSON");
    body["data"]["incidentId"] = json!(incident_id(k));
    body["data"]["incidentNumber"] = json!(k + 1);
    body["data"]["classification"] =
        json!(["FalsePositive", "TruePositive", "BenignPositive"][k % 3]);
    body
}

/// The tables and the verdict; true when every target is met and nothing went unexpectedly.
fn report(runs: &[Spent], incidents: usize) -> bool {
    let [batched, per_object] = runs else {
        return false;
    };
    println!(
        "\n| hour | {} | {} |\n|---|---|---|",
        batched.label, per_object.label
    );
    for hour in 0..24 {
        let of = |s: &Spent| s.per_slot[hour * 12..(hour + 1) * 12].iter().sum::<usize>();
        println!("| {hour:02}:00 | {} | {} |", of(batched), of(per_object));
    }
    let kinds: std::collections::BTreeSet<&String> = batched
        .by_kind
        .keys()
        .chain(per_object.by_kind.keys())
        .collect();
    println!(
        "\n| Halo calls by kind | {} | {} |\n|---|---|---|",
        batched.label, per_object.label
    );
    for kind in kinds {
        let of = |s: &Spent| s.by_kind.get(kind).copied().unwrap_or(0);
        println!("| {kind} | {} | {} |", of(batched), of(per_object));
    }
    let share = |calls: usize| 100.0 * calls as f64 / HALO_BUDGET_5_MIN as f64;
    let (b_slot, b_calls) = batched.busiest();
    let (p_slot, p_calls) = per_object.busiest();
    let hhmm = |slot: usize| format!("{:02}:{:02}", slot / 12, slot % 12 * 5);
    let (b_total, p_total) = (batched.total(), per_object.total());
    let busiest_ok = share(b_calls) <= 20.0;
    let total_ok = b_total * 3 <= p_total;
    println!(
        "\n| figure | {} | {} | target | |\n|---|---|---|---|---|",
        batched.label, per_object.label
    );
    println!(
        "| Halo calls in the day | {b_total} | {p_total} | batched ≤ ⅓ of one per object ({:.2}×) | {} |",
        b_total as f64 / p_total.max(1) as f64,
        if total_ok { "met" } else { "missed" }
    );
    println!(
        "| busiest 5 minutes | {b_calls} at {} ({:.1} % of 300) | {p_calls} at {} ({:.1} % of 300) | batched ≤ 20 % of 300 | {} |",
        hhmm(b_slot),
        share(b_calls),
        hhmm(p_slot),
        share(p_calls),
        if busiest_ok { "met" } else { "missed" }
    );
    println!(
        "| tickets made | {} | {} | {incidents}, one per incident | {} |",
        batched.tickets,
        per_object.tickets,
        if batched.tickets == incidents && per_object.tickets == incidents {
            "met"
        } else {
            "missed"
        }
    );
    println!(
        "| wall time of the compressed day | {:.0} s | {:.0} s |  |  |",
        batched.wall.as_secs_f64(),
        per_object.wall.as_secs_f64()
    );
    let mut ok = true;
    for run in runs {
        if !run.unexpected.is_empty() {
            ok = false;
            println!(
                "\n{}: {} unexpected answers, the first:",
                run.label,
                run.unexpected.len()
            );
            for line in run.unexpected.iter().take(5) {
                println!("  {line}");
            }
        }
    }
    let tickets_ok = batched.tickets == incidents && per_object.tickets == incidents;
    println!();
    if !ok {
        println!("FAIL: the bridge answered something unexpected (see above)");
    } else if busiest_ok && total_ok && tickets_ok {
        println!("every target met");
    } else {
        println!("targets missed");
    }
    ok && busiest_ok && total_ok && tickets_ok
}
