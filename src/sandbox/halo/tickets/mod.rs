//! `/api/Tickets`: list (lookups, paging), read one, and the batch create/update POST.

mod listing;
mod write;

pub(super) use write::TicketWrite;

use serde_json::{Value, json};

use super::HaloService;
use super::error::{ApiResult, not_found};
use super::json::{CustomFields, ticket_json, ticket_json_with};
use super::model::HaloTicket;
use super::model::{BetweenPages, WriteFate, WriteKind};
use super::request::{Query, parse_path_id};
use super::state::{LateWrite, State};

/// Halo's answer to a create without the one ticket type the fake knows.
pub(super) const NO_TICKET_TYPE: &str = "Please select a valid Ticket Type";

impl HaloService {
    /// `GET /api/Tickets`: newest first (or by id, `order=id`), filtered by the reference (when
    /// this Halo knows that filter), open/closed state and the last-update window, paged; a paged
    /// wrapped answer also names its page. Rows carry only the custom fields asked for.
    pub(super) fn list_tickets(&self, query: &Query) -> ApiResult {
        let window = listing::UpdateWindow::parse(query)?;
        let state_filter = listing::ClosedFilter::parse(query);
        let custom = listing::included_custom_fields(query);
        let mut state = self.state();
        let reference = listing::reference_filter(query, state.ignore_reference_filter);
        // A ticket's position never depends on its last update, so pages stay stable while a
        // client walks them. A reference lookup reads only the tickets carrying it (the index).
        let keep = |t: &&HaloTicket| state_filter.keeps(t) && window.contains(t);
        let mut hits: Vec<&HaloTicket> = match reference {
            Some(reference) => state
                .by_reference
                .get(reference)
                .into_iter()
                .flatten()
                .rev()
                .filter_map(|id| state.tickets.get(id))
                .filter(keep)
                .collect(),
            None => state.tickets.values().rev().filter(keep).collect(),
        };
        if listing::ascending(query) {
            hits.reverse();
        } else if state.default_order_by_update && query.get("order").is_none() {
            hits.sort_by_key(|t| std::cmp::Reverse(t.last_update));
        }
        let total = hits.len();
        let (page, paged) = listing::page_of(hits, query);
        let items = page
            .iter()
            .map(|t| ticket_json_with(t, state.id_style, CustomFields::Only(&custom)))
            .collect();
        let mut answer = state.list("tickets", items, total);
        if let (Some(paged), Value::Object(wrapper)) = (paged, &mut answer) {
            wrapper.insert("page_no".to_owned(), json!(paged.no));
            wrapper.insert("page_size".to_owned(), json!(paged.size));
        }
        if let Some(paged) = paged
            && let Some((after, event)) = state.between_pages
            && after == paged.no
        {
            state.between_pages = None;
            match event {
                BetweenPages::Touch(id) => {
                    if let Some(t) = state.tickets.get_mut(&id) {
                        t.last_update = std::time::SystemTime::now();
                    }
                }
                BetweenPages::Delete(id) => {
                    let reference = state
                        .tickets
                        .remove(&id)
                        .and_then(|t| t.third_party_id_string);
                    state.reindex(id, reference.as_deref(), None);
                }
            }
        }
        Ok(answer)
    }

    /// `GET /api/Tickets/{id}`.
    pub(super) fn get_ticket(&self, id: &str) -> ApiResult {
        let state = self.state();
        parse_path_id(id)
            .and_then(|id| state.tickets.get(&id))
            .map(|t| ticket_json(t, state.id_style))
            .ok_or_else(|| not_found("Ticket"))
    }

    /// `POST /api/Tickets`: create (no id / id 0) or update (existing id), validated as a batch.
    /// With a [`WriteFate`] set, the answer is lost (the connection breaks) and the write is
    /// completed at once, later, or never.
    pub(super) fn post_tickets(&self, query: &Query, body: &[u8]) -> ApiResult {
        let fate = self.state().take_fate(WriteKind::Tickets);
        if let Some(fate) = fate {
            let mut state = self.state();
            let writes = super::request::batch(body)?
                .iter()
                .map(|element| state.validate_ticket_write(element))
                .collect::<Result<Vec<_>, _>>()?;
            if let WriteFate::CompleteAfter(delay) = fate {
                let at = std::time::Instant::now() + delay;
                state.late_writes.push((at, LateWrite::Tickets(writes)));
                state.apply_late_writes();
            }
            return Err(super::error::ApiError::Reset);
        }
        self.write_batch(query, body, State::validate_ticket_write, |state, write| {
            let (id, isnew) = state.apply_ticket_write(write);
            let mut obj = ticket_json(&state.tickets[&id], state.id_style);
            obj["isnew"] = json!(isnew);
            obj
        })
    }
}
