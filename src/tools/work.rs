//! The reconcile operator commands (CONTRACT §9.1, §9.3): `reconcile` (one run from the command
//! line), `status [--json]` (what is parked, failed and pending, and the last run) and
//! `replay EVENT_ID|--all [--now]` (failed events back into the queue). They read the configured
//! store, so the same settings reach the production blob container.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::{EXIT_USAGE, fail, table};
use crate::clock::utc_date_time;
use crate::settings::Settings;
use crate::startup::{AppState, Overrides, app_state};
use crate::state::work::{RunStatus, Work, now_ms};
use crate::sync::reconcile::summary_line;

/// The app's state for a one-off command, its secrets read once when Key Vault is configured.
async fn state(command: &str) -> Result<AppState, ExitCode> {
    let settings = Settings::from_env().map_err(|e| fail(command, EXIT_USAGE, e))?;
    let state = app_state(&settings, &Overrides::default()).map_err(|e| fail(command, 1, e))?;
    if state.secrets.has_source()
        && let Err(e) = state.secrets.refresh().await
    {
        return Err(fail(command, 1, format!("key vault: {e}")));
    }
    Ok(state)
}

fn work(state: &AppState) -> Work<'_> {
    Work::new(state.store.as_ref(), state.ledger_ttl)
}

/// `reconcile`: one run now; prints its summary as JSON. Exit 1 when it could not run.
pub async fn reconcile() -> ExitCode {
    const COMMAND: &str = "reconcile";
    let state = match state(COMMAND).await {
        Ok(state) => state,
        Err(code) => return code,
    };
    run_once(COMMAND, &state).await
}

async fn run_once(command: &str, state: &AppState) -> ExitCode {
    let reconcile = match &state.reconcile {
        Ok(r) => r,
        Err(missing) => {
            return fail(
                command,
                1,
                format!("not configured: missing {}", missing.join(", ")),
            );
        }
    };
    match reconcile.run().await {
        Ok(summary) => {
            eprintln!("{}", summary_line(&summary));
            println!("{}", json!(summary));
            ExitCode::SUCCESS
        }
        Err(e) => fail(command, 1, e),
    }
}

fn ago(at_ms: u64) -> String {
    let secs = now_ms().saturating_sub(at_ms) / 1000;
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

fn rfc3339(at_ms: u64) -> String {
    format!("{}Z", utc_date_time(i128::from(at_ms) * 1_000_000, 0))
}

/// `status [--json]`.
pub async fn status(as_json: bool) -> ExitCode {
    const COMMAND: &str = "status";
    let state = match state(COMMAND).await {
        Ok(state) => state,
        Err(code) => return code,
    };
    let work = work(&state);
    let read = async {
        Ok::<_, crate::state::StateError>((
            work.parked().await?,
            work.failed().await?,
            work.pending().await?,
            work.failed_tickets().await?,
            work.status().await?,
        ))
    };
    let (parked, failed, pending, failed_tickets, run) = match read.await {
        Ok(all) => all,
        Err(e) => return fail(COMMAND, 1, e),
    };
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    for event in &parked {
        *by_severity.entry(event.severity.clone()).or_default() += 1;
    }
    let oldest = parked.iter().map(|e| e.parked_at_ms).min();
    if as_json {
        let document = json!({
            "parked": {
                "count": parked.len(),
                "bySeverity": by_severity,
                "oldestAgeSeconds": oldest.map(|at| now_ms().saturating_sub(at) / 1000),
                "events": parked.iter().map(|e| json!({
                    "eventId": e.event_id,
                    "severity": e.severity,
                    "incident": e.reference,
                    "parkedAt": rfc3339(e.parked_at_ms),
                    "attempts": e.tries.attempts,
                    "lastError": e.tries.last_error,
                    "nextAttemptAt": (e.tries.next_attempt_ms > 0).then(|| rfc3339(e.tries.next_attempt_ms)),
                })).collect::<Vec<_>>(),
            },
            "failed": failed.iter().map(|f| json!({
                "eventId": f.event.event_id,
                "incident": f.event.reference,
                "message": f.message,
                "failedAt": rfc3339(f.failed_at_ms),
            })).collect::<Vec<_>>(),
            "pending": pending.iter().map(|p| json!({
                "ticketId": p.ticket_id,
                "markedAt": rfc3339(p.marked_at_ms),
                "attempts": p.tries.attempts,
                "lastError": p.tries.last_error,
            })).collect::<Vec<_>>(),
            "failedTickets": failed_tickets.iter().map(|t| json!({
                "ticketId": t.ticket_id,
                "message": t.message,
                "attempts": t.attempts,
                "failedAt": rfc3339(t.failed_at_ms),
            })).collect::<Vec<_>>(),
            "lastRun": last_run_json(&run),
            "sweepMark": run.sweep_mark.map(|s| rfc3339(s as u64 * 1000)),
        });
        println!("{document:#}");
        return ExitCode::SUCCESS;
    }
    let severities: Vec<String> = by_severity
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    match oldest {
        None => println!("Parked events: none"),
        Some(at) => println!(
            "Parked events: {} ({}), the oldest parked {}",
            parked.len(),
            severities.join(", "),
            ago(at)
        ),
    }
    if failed.is_empty() {
        println!("Failed events: none");
    } else {
        println!(
            "Failed events: {} (replay with: cf-halo-bridge replay EVENT_ID)",
            failed.len()
        );
        let rows: Vec<Vec<String>> = failed
            .iter()
            .map(|f| {
                vec![
                    f.event.event_id.clone(),
                    f.event.reference.clone(),
                    f.message.clone(),
                ]
            })
            .collect();
        print!("{}", table(&["event", "incident", "message"], &rows));
    }
    let deferred = parked.iter().filter(|e| e.tries.attempts > 0).count();
    if deferred > 0 {
        println!("  of the parked events, {deferred} failed before and wait out a back-off");
    }
    let tickets: Vec<String> = pending
        .iter()
        .map(|p| match p.tries.attempts {
            0 => p.ticket_id.to_string(),
            n => format!(
                "{} ({n} attempts: {})",
                p.ticket_id,
                p.tries.last_error.as_deref().unwrap_or("")
            ),
        })
        .collect();
    match tickets.is_empty() {
        true => println!("Pending tickets: none"),
        false => println!(
            "Pending tickets: {} ({})",
            tickets.len(),
            tickets.join(", ")
        ),
    }
    if !failed_tickets.is_empty() {
        println!(
            "Failed tickets: {} (replay with: cf-halo-bridge replay ticket:ID)",
            failed_tickets.len()
        );
        let rows: Vec<Vec<String>> = failed_tickets
            .iter()
            .map(|t| {
                vec![
                    t.ticket_id.to_string(),
                    t.attempts.to_string(),
                    t.message.clone(),
                ]
            })
            .collect();
        print!("{}", table(&["ticket", "attempts", "last error"], &rows));
    }
    match &run.last_run {
        None => println!("Last run: none yet"),
        Some(last) => println!(
            "Last run: {} ({}), took {} ms: {}",
            rfc3339(last.started_at_ms),
            ago(last.started_at_ms),
            last.elapsed_ms,
            summary_line(&last.summary)
        ),
    }
    ExitCode::SUCCESS
}

fn last_run_json(run: &RunStatus) -> Value {
    match &run.last_run {
        None => Value::Null,
        Some(last) => json!({
            "startedAt": rfc3339(last.started_at_ms),
            "elapsedMs": last.elapsed_ms,
            "summary": last.summary,
        }),
    }
}

/// `replay EVENT_ID|ticket:ID|--all [--now]`: failed events back to the parked queue and failed
/// tickets back to pending, with fresh attempts (then a run, with `--now`). Exit 1 when a named
/// item is not on a failed list.
pub async fn replay(event_id: Option<String>, all: bool, now: bool) -> ExitCode {
    const COMMAND: &str = "replay";
    let state = match state(COMMAND).await {
        Ok(state) => state,
        Err(code) => return code,
    };
    let work = work(&state);
    let ids: Vec<String> = match (event_id, all) {
        (Some(id), false) => vec![id],
        (None, true) => {
            let listed = async {
                let mut ids: Vec<String> = work
                    .failed()
                    .await?
                    .into_iter()
                    .map(|f| f.event.event_id)
                    .collect();
                ids.extend(
                    work.failed_tickets()
                        .await?
                        .into_iter()
                        .map(|t| format!("ticket:{}", t.ticket_id)),
                );
                Ok::<_, crate::state::StateError>(ids)
            };
            match listed.await {
                Ok(ids) => ids,
                Err(e) => return fail(COMMAND, 1, e),
            }
        }
        _ => {
            return fail(
                COMMAND,
                EXIT_USAGE,
                "name one EVENT_ID or ticket:ID, or --all",
            );
        }
    };
    for id in &ids {
        let replayed = match id.strip_prefix("ticket:").map(str::parse::<u64>) {
            Some(Ok(ticket)) => work.replay_ticket(ticket).await,
            Some(Err(_)) => return fail(COMMAND, EXIT_USAGE, format!("{id}: not a ticket id")),
            None => work.replay(id).await,
        };
        match replayed {
            Ok(true) => println!("{id}: queued again for the next reconcile run"),
            Ok(false) => return fail(COMMAND, 1, format!("{id} is not on a failed list")),
            Err(e) => return fail(COMMAND, 1, e),
        }
    }
    if ids.is_empty() {
        println!("Nothing has failed.");
    }
    if now {
        return run_once(COMMAND, &state).await;
    }
    ExitCode::SUCCESS
}
