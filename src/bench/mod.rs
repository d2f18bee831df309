//! Benchmarks: commands that measure and print figures (never timed tests). One file (or folder)
//! per benchmark (`burst`, `storm`, `suite`); the pieces they share beside them.

mod burst;
mod day;
mod handler;
mod load;
mod phases;
mod reconcile;
mod report;
mod storm;
mod suite;

use serde_json::{Value, json};

pub use burst::burst;
pub use day::{DayArgs, day};
pub use reconcile::{ReconcileBenchArgs, reconcile};
pub use storm::{StormArgs, storm};
pub use suite::{BenchArgs, bench};

/// The ContraForce signing secret the benchmarked handlers are given.
const CF_SECRET: &str = "bench-contraforce-signing-secret";
const INCIDENT: &str = include_str!("../../tests/data/cf-incident-created.json");

/// The fixture incident, parsed once per benchmark phase.
fn incident() -> Value {
    serde_json::from_str(INCIDENT).expect("embedded fixture is JSON")
}

/// `incident` under another id and number, as a request body: each a new incident to the bridge.
fn numbered(incident: &Value, id: String, number: usize) -> Vec<u8> {
    let mut incident = incident.clone();
    incident["data"]["incidentId"] = json!(id);
    incident["data"]["incidentNumber"] = json!(number);
    serde_json::to_vec(&incident).expect("serialisable")
}
