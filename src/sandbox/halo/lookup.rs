//! The lookup tables the fake Halo is seeded with: statuses, outcomes, ticket type, priorities,
//! teams and clients (`GET /api/{table}`).

use serde_json::{Value, json};

use super::HaloService;

/// Halo's seeded statuses (`GET /api/Status`).
const STATUSES: [(u64, &str); 4] = [
    (1, "New"),
    (2, "In Progress"),
    (9, "Closed"),
    (28, "On Hold"),
];
/// Halo's seeded outcomes (`GET /api/Outcome`): (id, name, hidden from user).
pub(super) const OUTCOMES: [(u64, &str, bool); 5] = [
    (1, "Note", false),
    (2, "Ticket Logged", false),
    (3, "Email User", false),
    (7, "Private Note", true),
    (8, "Status Change", false),
];
/// The one ticket type the fake knows; creates with any other type are rejected.
pub(super) const TICKET_TYPE: (u64, &str) = (25, "Security Incident");

/// A status's name; unknown ids get a made-up one, as the fake accepts any status id.
pub(super) fn status_name(id: u64) -> String {
    STATUSES
        .iter()
        .find(|(sid, _)| *sid == id)
        .map_or_else(|| format!("Status {id}"), |(_, name)| (*name).to_owned())
}

impl HaloService {
    /// `GET /api/{table}` (lower-cased), or `None` for a table the fake does not have.
    pub(super) fn lookup_table(&self, table: &str) -> Option<Value> {
        let rows = match table {
            "status" => STATUSES
                .iter()
                .map(|(id, name)| json!({ "id": id, "name": name, "type": "ticket" }))
                .collect(),
            "outcome" => OUTCOMES
                .iter()
                .map(|(id, name, hidden)| {
                    json!({ "id": id, "outcome": name, "buttonname": name, "hidefromuser": hidden })
                })
                .collect(),
            "tickettype" => vec![json!({ "id": TICKET_TYPE.0, "name": TICKET_TYPE.1, "initial_status": 1 })],
            "priority" => ["Critical", "High", "Medium", "Low"]
                .iter()
                .zip(1u64..)
                .map(|(name, pid)| {
                    json!({
                        "id": format!("7c1e2b3a-0000-4000-8000-00000000000{pid}"),
                        "slaid": 1,
                        "priorityid": pid,
                        "name": name,
                    })
                })
                .collect(),
            "team" => vec![json!({ "id": 5, "name": "SOC" })],
            "client" => {
                let clients = vec![json!({ "id": 1, "name": "Example MSP" })];
                return Some(self.state().list("clients", clients, 1));
            }
            _ => return None,
        };
        Some(Value::Array(rows))
    }
}
