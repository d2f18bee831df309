//! `/_sandbox/...`: manual control of the fake Halo from the CLI; no auth, not logged.

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::HaloService;
use super::json::{html_to_text, ticket_json};
use super::model::IdStyle;
use super::request::{as_id, parse_path_id};
use super::state::ActionDraft;
use crate::sandbox::common::{Gate, json};

impl HaloService {
    /// Routes a control request; `path` is what follows `/_sandbox`, lower-cased.
    pub(super) fn route_control(
        &self,
        gate: &Gate,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> HttpResponse {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["requests"]) => json(200, json!(gate.requests())),
            ("GET", ["tickets"]) => {
                let state = self.state();
                let tickets: Vec<Value> = state
                    .tickets
                    .values()
                    .map(|t| ticket_json(t, IdStyle::Int))
                    .collect();
                json(200, json!(tickets))
            }
            ("GET", ["tickets", id, "actions"]) => self.control_actions(id),
            ("POST", ["tickets", id, "notes"]) => self.control_note(id, body),
            ("POST", ["tickets", id, "close"]) => self.control_status(id, 9),
            ("POST", ["tickets", id, "reopen"]) => self.control_status(id, 2),
            _ => json(404, json!({ "error": "not found" })),
        }
    }

    fn control_actions(&self, id: &str) -> HttpResponse {
        let state = self.state();
        match parse_path_id(id).and_then(|id| state.actions.get(&id)) {
            Some(actions) => json(200, json!(actions)),
            None => json(404, json!({ "error": "no such ticket" })),
        }
    }

    fn control_note(&self, id: &str, body: &[u8]) -> HttpResponse {
        let Ok(Value::Object(note)) = serde_json::from_slice::<Value>(body) else {
            return json(400, json!({ "error": "body must be a JSON object" }));
        };
        let Some(text) = note.get("note").and_then(Value::as_str) else {
            return json(400, json!({ "error": "note is required" }));
        };
        let draft = ActionDraft {
            outcome: "Note".to_owned(),
            who: note
                .get("who")
                .and_then(Value::as_str)
                .unwrap_or("Jane Tech")
                .to_owned(),
            agent_id: note.get("agent_id").and_then(as_id).unwrap_or(3),
            hiddenfromuser: note.get("hidden").and_then(Value::as_bool).unwrap_or(false),
            note: html_to_text(text),
            note_html: text.to_owned(),
            system: false,
        };
        let pushed = parse_path_id(id).and_then(|id| self.state().push_action(id, draft));
        match pushed {
            Some(action_id) => json(200, json!({ "actionId": action_id })),
            None => json(404, json!({ "error": "no such ticket" })),
        }
    }

    fn control_status(&self, id: &str, status: u64) -> HttpResponse {
        let mut state = self.state();
        let Some(id) = parse_path_id(id) else {
            return json(404, json!({ "error": "no such ticket" }));
        };
        match state.change_status(id, status, true) {
            Some(()) => json(200, ticket_json(&state.tickets[&id], IdStyle::Int)),
            None => json(404, json!({ "error": "no such ticket" })),
        }
    }
}
