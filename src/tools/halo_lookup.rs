//! `halo-lookup`: the Halo ids an operator needs for the settings, as readable tables or JSON.
//!
//! Reads `GET /api/TicketType`, `/api/Priority`, `/api/Status?type=ticket`, `/api/Outcome`,
//! `/api/Team` and `/api/Client` through the handler's own [`HaloClient`] (token cache, call
//! budget, retries). A table Halo refuses (a 4xx, e.g. teams for an API application logged in
//! as a client) is reported and the others are still printed; an outage or a refused token
//! stops the command with one line.

use std::process::ExitCode;

use serde_json::{Map, Value, json};

use super::{EXIT_USAGE, fail, halo_client, http_client, table};
use crate::halo::client::HaloClient;
use crate::halo::model::flex_id;
use crate::http::{Deadline, UpstreamError};
use crate::settings::{NoteOutcome, Settings};

const COMMAND: &str = "halo-lookup";

/// A lookup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    /// `GET /api/TicketType`.
    TicketTypes,
    /// `GET /api/Priority` (one row per SLA and priority).
    Priorities,
    /// `GET /api/Status?type=ticket`.
    Statuses,
    /// `GET /api/Outcome`.
    Outcomes,
    /// `GET /api/Team`.
    Teams,
    /// `GET /api/Client`.
    Clients,
}

impl Table {
    /// Every table, in print order.
    pub const ALL: [Table; 6] = [
        Table::TicketTypes,
        Table::Priorities,
        Table::Statuses,
        Table::Outcomes,
        Table::Teams,
        Table::Clients,
    ];

    fn path(self) -> &'static str {
        match self {
            Table::TicketTypes => "TicketType",
            Table::Priorities => "Priority",
            Table::Statuses => "Status",
            Table::Outcomes => "Outcome",
            Table::Teams => "Team",
            Table::Clients => "Client",
        }
    }

    fn query(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Table::Statuses => &[("type", "ticket")],
            _ => &[],
        }
    }

    /// Key in the `--json` output (and the name used on the command line).
    pub fn key(self) -> &'static str {
        match self {
            Table::TicketTypes => "ticket_types",
            Table::Priorities => "priorities",
            Table::Statuses => "statuses",
            Table::Outcomes => "outcomes",
            Table::Teams => "teams",
            Table::Clients => "clients",
        }
    }

    /// Heading and the settings the table helps to fill in.
    fn heading(self) -> &'static str {
        match self {
            Table::TicketTypes => "Ticket types → HALO_DEFAULT_TICKETTYPE_ID",
            Table::Priorities => {
                "Priorities, one row per SLA → HALO_PRIORITY_MAP takes the priorityid (e.g. High=2,Medium=3,Low=4)"
            }
            Table::Statuses => "Statuses → HALO_CLOSED_STATUS_ID",
            Table::Outcomes => "Outcomes → HALO_PRIVATE_NOTE_OUTCOME (id or name)",
            Table::Teams => "Teams → HALO_TEAM (the name)",
            Table::Clients => "Clients → HALO_DEFAULT_CLIENT_ID, HALO_CLIENT_MAP",
        }
    }
}

/// Which statuses count as closed, for the marks in the status table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosedRule {
    /// `HALO_CLOSED_STATUS_ID` is set: exactly these ids.
    Configured(Vec<u64>),
    /// Not set: id 9 (Halo's default "Closed") and names containing "closed" or "resolved".
    Guess,
}

impl ClosedRule {
    /// The rule for these settings.
    pub fn from_settings(settings: &Settings) -> ClosedRule {
        match configured_closed_ids(settings) {
            Some(ids) => ClosedRule::Configured(ids),
            None => ClosedRule::Guess,
        }
    }

    /// Whether a status is closed under this rule.
    pub fn is_closed(&self, id: Option<u64>, name: &str) -> bool {
        match self {
            ClosedRule::Configured(ids) => id.is_some_and(|id| ids.contains(&id)),
            ClosedRule::Guess => {
                let name = name.to_lowercase();
                id == Some(9) || name.contains("closed") || name.contains("resolved")
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            ClosedRule::Configured(ids) => format!(
                "closed = the ids in HALO_CLOSED_STATUS_ID ({})",
                join_ids(ids)
            ),
            ClosedRule::Guess => "closed = id 9 or a name containing \"closed\" or \"resolved\" (HALO_CLOSED_STATUS_ID is not set)".into(),
        }
    }
}

/// `HALO_CLOSED_STATUS_ID` as configured (already validated by [`Settings::from_env`]).
pub fn configured_closed_ids(settings: &Settings) -> Option<Vec<u64>> {
    if let Ok(s) = &settings.halo_to_cf {
        return Some(s.closed_status_ids.clone());
    }
    let raw = std::env::var("HALO_CLOSED_STATUS_ID").ok()?;
    let ids: Vec<u64> = raw
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// `HALO_PRIVATE_NOTE_OUTCOME` (default `Private Note`; a number is an outcome id).
pub fn note_outcome(settings: &Settings) -> NoteOutcome {
    if let Ok(s) = &settings.cf_to_halo {
        return s.note_outcome.clone();
    }
    let raw = std::env::var("HALO_PRIVATE_NOTE_OUTCOME")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "Private Note".into());
    match raw.parse::<u64>() {
        Ok(id) => NoteOutcome::Id(id),
        Err(_) => NoteOutcome::Name(raw),
    }
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// The records of a list answer: a bare array, or the (first) array inside an object such as
/// `{"record_count":n,"clients":[…]}`.
pub fn records(body: &Value) -> Vec<&Map<String, Value>> {
    let items: &[Value] = match body {
        Value::Array(items) => items,
        Value::Object(o) => o
            .values()
            .find_map(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        _ => &[],
    };
    items.iter().filter_map(Value::as_object).collect()
}

fn text(o: &Map<String, Value>, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| match o.get(*k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

fn id(o: &Map<String, Value>, key: &str) -> Value {
    match o.get(key) {
        Some(v) => flex_id(v).map_or_else(|| v.clone(), Value::from),
        None => Value::Null,
    }
}

/// The outcome's display name: `outcome`, else `buttonname`, else `name`.
pub fn outcome_name(o: &Map<String, Value>) -> String {
    text(o, &["outcome", "buttonname", "name"])
}

/// Whether an outcome record is the one `HALO_PRIVATE_NOTE_OUTCOME` names (by id, or by name
/// ignoring case).
pub fn is_note_outcome(o: &Map<String, Value>, wanted: &NoteOutcome) -> bool {
    match wanted {
        NoteOutcome::Id(want) => o.get("id").and_then(flex_id) == Some(*want),
        NoteOutcome::Name(want) => ["outcome", "buttonname", "name"].iter().any(|k| {
            o.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(want.trim()))
        }),
    }
}

/// Halo's answer for one table, reduced to the fields an operator needs.
pub fn normalise(
    which: Table,
    body: &Value,
    closed: &ClosedRule,
    note: &NoteOutcome,
) -> Vec<Value> {
    let rows = records(body);
    let mut out: Vec<Value> = rows
        .iter()
        .map(|o| match which {
            Table::Priorities => json!({
                "id": o.get("id").cloned().unwrap_or(Value::Null),
                "slaid": id(o, "slaid"),
                "priorityid": id(o, "priorityid"),
                "name": text(o, &["name"]),
            }),
            Table::Statuses => {
                let name = text(o, &["name"]);
                let status_id = o.get("id").and_then(flex_id);
                json!({
                    "id": id(o, "id"),
                    "name": name,
                    "closed": closed.is_closed(status_id, &name),
                })
            }
            Table::Outcomes => json!({
                "id": id(o, "id"),
                "name": outcome_name(o),
                "hiddenfromuser": matches!(o.get("hidefromuser"), Some(Value::Bool(true))),
                "private_note_outcome": is_note_outcome(o, note),
            }),
            Table::TicketTypes | Table::Teams | Table::Clients => json!({
                "id": id(o, "id"),
                "name": text(o, &["name"]),
            }),
        })
        .collect();
    let number = |v: &Value, k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    match which {
        Table::Priorities => out.sort_by_key(|r| (number(r, "slaid"), number(r, "priorityid"))),
        _ => out.sort_by_key(|r| number(r, "id")),
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => String::new(),
        other => other.to_string(),
    }
}

/// One table as text.
pub fn render(which: Table, rows: &[Value], closed: &ClosedRule, note: &NoteOutcome) -> String {
    let (headers, keys): (&[&str], &[&str]) = match which {
        Table::Priorities => (
            &["sla", "priorityid", "name"],
            &["slaid", "priorityid", "name"],
        ),
        Table::Statuses => (&["id", "name", "closed"], &["id", "name", "closed"]),
        Table::Outcomes => (
            &["id", "outcome", "hidden from user", "used for our notes"],
            &["id", "name", "hiddenfromuser", "private_note_outcome"],
        ),
        _ => (&["id", "name"], &["id", "name"]),
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| keys.iter().map(|k| cell(&r[*k])).collect())
        .collect();
    let mut out = format!("{}\n", which.heading());
    if rows.is_empty() {
        out.push_str("  (none)\n");
    } else {
        out.push_str(&table(headers, &cells));
    }
    match which {
        Table::Statuses => {
            out.push_str(&format!("  {}\n", closed.describe()));
            if *closed == ClosedRule::Guess {
                let ids: Vec<u64> = rows
                    .iter()
                    .filter(|r| r["closed"] == Value::Bool(true))
                    .filter_map(|r| r["id"].as_u64())
                    .collect();
                if !ids.is_empty() {
                    out.push_str(&format!(
                        "  suggested: HALO_CLOSED_STATUS_ID={}\n",
                        join_ids(&ids)
                    ));
                }
            }
        }
        Table::Outcomes => {
            let wanted = match note {
                NoteOutcome::Id(id) => format!("id {id}"),
                NoteOutcome::Name(name) => format!("{name:?}"),
            };
            if !rows
                .iter()
                .any(|r| r["private_note_outcome"] == Value::Bool(true))
            {
                out.push_str(&format!(
                    "  warning: HALO_PRIVATE_NOTE_OUTCOME ({wanted}) is not among these outcomes\n"
                ));
            }
        }
        _ => {}
    }
    out
}

/// Reads one table: `Ok(Err(why))` when Halo refuses this table (a 4xx), `Err` when Halo cannot
/// be used at all (unreachable, token refused).
async fn read(
    halo: &HaloClient,
    which: Table,
    deadline: Deadline,
) -> Result<Result<Value, String>, UpstreamError> {
    match halo.get_json(which.path(), which.query(), deadline).await {
        Ok(body) => Ok(Ok(body)),
        Err(UpstreamError::Rejected { status, detail, .. }) => {
            Ok(Err(format!("Halo refused to list it ({status}: {detail})")))
        }
        Err(UpstreamError::NotFound { .. }) => Ok(Err("Halo has no such endpoint (404)".into())),
        Err(e) => Err(e),
    }
}

/// Runs `halo-lookup`.
pub async fn run(tables: Vec<Table>, as_json: bool) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => return fail(COMMAND, EXIT_USAGE, e),
    };
    let secrets = match super::load_secrets(&settings).await {
        Ok(s) => s,
        Err(e) => return fail(COMMAND, EXIT_USAGE, e),
    };
    let halo = match halo_client(&settings, http_client(), secrets) {
        Ok(h) => h,
        Err(e) => return fail(COMMAND, EXIT_USAGE, e),
    };
    let api = settings
        .halo
        .as_ref()
        .map(|c| c.api_base_url.clone())
        .unwrap_or_default();
    let tables = if tables.is_empty() {
        Table::ALL.to_vec()
    } else {
        tables
    };
    let closed = ClosedRule::from_settings(&settings);
    let note = note_outcome(&settings);
    let deadline = Deadline::after(
        settings
            .request_deadline
            .max(std::time::Duration::from_secs(30)),
    );

    let mut results: Vec<(Table, Result<Vec<Value>, String>)> = Vec::new();
    for which in tables {
        match read(&halo, which, deadline).await {
            Ok(Ok(body)) => results.push((which, Ok(normalise(which, &body, &closed, &note)))),
            Ok(Err(refused)) => results.push((which, Err(refused))),
            Err(e) => {
                return fail(
                    COMMAND,
                    1,
                    format!("cannot read {} from Halo at {api}: {e}", which.key()),
                );
            }
        }
    }

    if as_json {
        let mut out = Map::new();
        out.insert("api".into(), Value::from(api.clone()));
        let mut errors = Map::new();
        for (which, rows) in &results {
            match rows {
                Ok(rows) => {
                    out.insert(which.key().into(), Value::from(rows.clone()));
                }
                Err(e) => {
                    errors.insert(which.key().into(), Value::from(e.clone()));
                }
            }
        }
        if !errors.is_empty() {
            out.insert("errors".into(), Value::Object(errors));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
        );
    } else {
        println!("Halo lookup tables from {api}\n");
        for (which, rows) in &results {
            match rows {
                Ok(rows) => println!("{}", render(*which, rows, &closed, &note)),
                Err(e) => println!("{}\n  not readable: {e}\n", which.heading()),
            }
        }
    }
    let refused: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(t, _)| t.key())
        .collect();
    if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        fail(
            COMMAND,
            1,
            format!("Halo refused to list: {}", refused.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closed_rule_uses_the_setting_or_guesses_from_id_9_and_names() {
        let guess = ClosedRule::Guess;
        assert!(guess.is_closed(Some(9), "Whatever"));
        assert!(guess.is_closed(Some(10), "Resolved - Awaiting Confirmation"));
        assert!(guess.is_closed(Some(11), "closed (duplicate)"));
        assert!(!guess.is_closed(Some(2), "In Progress"));
        let set = ClosedRule::Configured(vec![10]);
        assert!(set.is_closed(Some(10), "Done"));
        assert!(!set.is_closed(Some(9), "Closed"), "the setting decides");
    }

    #[test]
    fn priorities_are_sorted_per_sla_and_keep_the_guid() {
        let body = json!([
            {"id": "g-2", "slaid": 2, "priorityid": 1, "name": "Critical"},
            {"id": "g-1", "slaid": 1, "priorityid": 4, "name": "Low"},
            {"id": "g-0", "slaid": 1, "priorityid": 2.0, "name": "High"},
        ]);
        let rows = normalise(
            Table::Priorities,
            &body,
            &ClosedRule::Guess,
            &NoteOutcome::Id(7),
        );
        let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["High", "Low", "Critical"]);
        assert_eq!(rows[0]["id"], "g-0");
        assert_eq!(rows[0]["priorityid"], 2);
    }

    #[test]
    fn outcomes_mark_the_note_outcome_by_id_or_name() {
        let body = json!([
            {"id": 7, "outcome": "Private Note", "hidefromuser": true},
            {"id": "1", "buttonname": "Note"},
        ]);
        let by_name = NoteOutcome::Name("private note".into());
        let rows = normalise(Table::Outcomes, &body, &ClosedRule::Guess, &by_name);
        assert_eq!(rows[0]["name"], "Note");
        assert_eq!(rows[0]["id"], 1);
        assert_eq!(rows[1]["private_note_outcome"], true);
        assert_eq!(rows[1]["hiddenfromuser"], true);
        let text = render(Table::Outcomes, &rows, &ClosedRule::Guess, &by_name);
        assert!(!text.contains("warning"), "{text}");
        let missing = NoteOutcome::Id(99);
        let rows = normalise(Table::Outcomes, &body, &ClosedRule::Guess, &missing);
        let text = render(Table::Outcomes, &rows, &ClosedRule::Guess, &missing);
        assert!(text.contains("warning") && text.contains("id 99"), "{text}");
    }

    #[test]
    fn wrapped_lists_are_read_and_statuses_suggest_the_closed_ids() {
        let body = json!({"record_count": 2, "statuses": [
            {"id": 9, "name": "Closed"}, {"id": 1, "name": "New"}
        ]});
        let rows = normalise(
            Table::Statuses,
            &body,
            &ClosedRule::Guess,
            &NoteOutcome::Id(7),
        );
        assert_eq!(rows[0]["id"], 1);
        assert_eq!(rows[1]["closed"], true);
        let text = render(
            Table::Statuses,
            &rows,
            &ClosedRule::Guess,
            &NoteOutcome::Id(7),
        );
        assert!(
            text.contains("suggested: HALO_CLOSED_STATUS_ID=9"),
            "{text}"
        );
    }
}
