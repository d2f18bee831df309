//! `/api/Actions`: a ticket's actions, one action, and the batch POST that adds notes (and
//! changes status through `new_status`).

use serde_json::{Map, Value, json};

use super::HaloService;
use super::error::{ApiError, ApiResult, halo_error, not_found};
use super::json::{action_json, html_to_text, styled_id};
use super::lookup::{OUTCOMES, status_name};
use super::model::ListShape;
use super::model::{WriteFate, WriteKind};
use super::request::{Query, opt_id, opt_text, parse_path_id, required_ticket_id};
use super::state::{API_AGENT, ActionDraft, LateWrite, State};

/// Halo's answer to an action without an outcome.
pub(super) const NO_OUTCOME: &str = "An Outcome must be entered for this Action";

impl HaloService {
    /// `GET /api/Actions?ticket_id=…`, honouring `excludesys` and `includehtmlnote`.
    pub(super) fn list_actions(&self, query: &Query) -> ApiResult {
        let ticket_id = required_ticket_id(query)?;
        let state = self.state();
        if !state.tickets.contains_key(&ticket_id) {
            return Err(not_found("Ticket"));
        }
        let exclude_sys = query.flag("excludesys");
        let with_html = query.flag("includehtmlnote");
        let items: Vec<Value> = state
            .actions
            .get(&ticket_id)
            .into_iter()
            .flatten()
            .filter(|a| !(exclude_sys && a.system))
            .map(|a| action_json(a, state.id_style, with_html))
            .collect();
        Ok(match state.list_shape {
            ListShape::Bare => Value::Array(items),
            ListShape::Wrapped => json!({
                "ticket_id": styled_id(ticket_id, state.id_style),
                "record_count": items.len(),
                "actions": items,
            }),
        })
    }

    /// `GET /api/Actions/{id}?ticket_id=…`.
    pub(super) fn get_action(&self, id: &str, query: &Query) -> ApiResult {
        let ticket_id = required_ticket_id(query)?;
        let state = self.state();
        let id = parse_path_id(id).ok_or_else(|| not_found("Action"))?;
        state
            .actions
            .get(&ticket_id)
            .and_then(|list| list.iter().find(|a| a.id == id))
            .map(|a| action_json(a, state.id_style, true))
            .ok_or_else(|| not_found("Action"))
    }

    /// `POST /api/Actions`: adds notes (and status changes through `new_status`).
    pub(super) fn post_actions(&self, query: &Query, body: &[u8]) -> ApiResult {
        let fate = self.state().take_fate(WriteKind::Actions);
        if let Some(fate) = fate {
            let mut state = self.state();
            let writes = super::request::batch(body)?
                .iter()
                .map(|element| state.validate_action_write(element))
                .collect::<Result<Vec<_>, _>>()?;
            if let WriteFate::CompleteAfter(delay) = fate {
                let at = std::time::Instant::now() + delay;
                state.late_writes.push((at, LateWrite::Actions(writes)));
                state.apply_late_writes();
            }
            return Err(super::error::ApiError::Reset);
        }
        self.write_batch(
            query,
            body,
            State::validate_action_write,
            |state, (ticket_id, draft, new_status)| {
                // Validation proved the ticket exists, so the push cannot miss.
                let id = state.push_action(ticket_id, draft).unwrap_or_default();
                if let Some(status) = new_status {
                    state.change_status(ticket_id, status, false);
                }
                let action = state.actions[&ticket_id].iter().find(|a| a.id == id);
                let mut obj = action.map_or(Value::Null, |a| action_json(a, state.id_style, true));
                if let Some(status) = new_status {
                    obj["new_status"] = json!(status);
                    obj["new_status_name"] = json!(status_name(status));
                }
                obj
            },
        )
    }
}

impl State {
    /// Checks one element of an action POST: the ticket, the note and an optional new status.
    pub(super) fn validate_action_write(
        &self,
        obj: &Map<String, Value>,
    ) -> Result<(u64, ActionDraft, Option<u64>), ApiError> {
        let ticket_id = opt_id(obj, "ticket_id")?
            .ok_or_else(|| halo_error(400, "A valid ticket_id must be supplied"))?;
        let outcome = match (opt_text(obj, "outcome"), opt_id(obj, "outcome_id")?) {
            (Some(name), _) if !name.trim().is_empty() => name,
            (_, Some(id)) => OUTCOMES
                .iter()
                .find(|(oid, _, _)| *oid == id)
                .map(|(_, name, _)| (*name).to_owned())
                .ok_or_else(|| halo_error(400, &format!("Outcome {id} does not exist")))?,
            _ => return Err(ApiError::Text(400, NO_OUTCOME)),
        };
        if !self.tickets.contains_key(&ticket_id) {
            return Err(not_found("Ticket"));
        }
        let note_html = opt_text(obj, "note_html");
        let note = opt_text(obj, "note");
        let draft = ActionDraft {
            outcome,
            who: API_AGENT.to_owned(),
            agent_id: self.cfg.integration_agent_id,
            hiddenfromuser: obj
                .get("hiddenfromuser")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            note: note
                .clone()
                .or_else(|| note_html.as_deref().map(html_to_text))
                .unwrap_or_default(),
            note_html: note_html.or(note).unwrap_or_default(),
            system: false,
        };
        Ok((ticket_id, draft, opt_id(obj, "new_status")?))
    }
}
