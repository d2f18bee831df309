//! A ticket create or update: the fields a POST may carry, validated before any is applied.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::NO_TICKET_TYPE;
use crate::sandbox::halo::error::{ApiError, halo_error, not_found};
use crate::sandbox::halo::lookup::TICKET_TYPE;
use crate::sandbox::halo::model::HaloTicket;
use crate::sandbox::halo::request::{as_id, opt_id, opt_text};
use crate::sandbox::halo::state::{State, set_field};
use crate::sandbox::halo::surface::is_documented_field;

/// The ticket fields the fake models; any other documented field is kept as sent.
const MODELLED: [&str; 13] = [
    "id",
    "summary",
    "details",
    "details_html",
    "tickettype_id",
    "client_id",
    "priority_id",
    "third_party_id_string",
    "customfields",
    "team",
    "category_1",
    "status_id",
    "hasbeenclosed",
];

/// A validated ticket write.
pub(crate) enum TicketWrite {
    Create(HaloTicketFields),
    Update(u64, HaloTicketFields),
}

/// Ticket fields present in a request (`None` = not supplied).
#[derive(Default)]
pub(crate) struct HaloTicketFields {
    summary: Option<String>,
    details_html: Option<String>,
    tickettype_id: Option<u64>,
    client_id: Option<u64>,
    priority_id: Option<u64>,
    third_party_id_string: Option<String>,
    customfields: Vec<(u64, Value)>,
    team: Option<String>,
    category_1: Option<String>,
    status_id: Option<u64>,
    /// Documented fields the fake does not model; undocumented ones are dropped, as Halo does.
    other: BTreeMap<String, Value>,
}

impl HaloTicketFields {
    fn parse(obj: &Map<String, Value>) -> Result<HaloTicketFields, ApiError> {
        Ok(HaloTicketFields {
            summary: opt_text(obj, "summary"),
            details_html: opt_text(obj, "details_html").or_else(|| opt_text(obj, "details")),
            tickettype_id: opt_id(obj, "tickettype_id")?,
            client_id: opt_id(obj, "client_id")?,
            priority_id: opt_id(obj, "priority_id")?,
            third_party_id_string: opt_text(obj, "third_party_id_string"),
            customfields: custom_fields(obj)?,
            team: opt_text(obj, "team"),
            category_1: opt_text(obj, "category_1"),
            status_id: opt_id(obj, "status_id")?,
            other: obj
                .iter()
                .filter(|(name, _)| {
                    !MODELLED.iter().any(|m| m.eq_ignore_ascii_case(name))
                        && is_documented_field("Faults", name)
                })
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
                .collect(),
        })
    }

    fn apply_to(self, t: &mut HaloTicket) {
        fn put<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        put(&mut t.summary, self.summary);
        put(&mut t.details_html, self.details_html);
        put(&mut t.tickettype_id, self.tickettype_id.map(Some));
        put(&mut t.client_id, self.client_id.map(Some));
        put(&mut t.priority_id, self.priority_id.map(Some));
        put(
            &mut t.third_party_id_string,
            self.third_party_id_string.map(Some),
        );
        put(&mut t.team, self.team.map(Some));
        put(&mut t.category_1, self.category_1.map(Some));
        for (id, value) in self.customfields {
            set_field(&mut t.customfields, id, value);
        }
        t.other.extend(self.other);
    }
}

/// `customfields: [{id, value}]` (or `{name: "CF<id>", value}`) as (id, value) pairs.
fn custom_fields(obj: &Map<String, Value>) -> Result<Vec<(u64, Value)>, ApiError> {
    let Some(list) = obj.get("customfields") else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(halo_error(400, "customfields must be an array"));
    };
    list.iter()
        .map(|field| {
            let id = field.get("id").and_then(as_id).or_else(|| {
                let name = field.get("name")?.as_str()?;
                name.get(2..)?.parse().ok()
            });
            let id = id.ok_or_else(|| halo_error(400, "Custom field id is required"))?;
            Ok((id, field.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

impl State {
    /// Checks one element of a ticket POST without changing anything.
    pub(crate) fn validate_ticket_write(
        &self,
        obj: &Map<String, Value>,
    ) -> Result<TicketWrite, ApiError> {
        let fields = HaloTicketFields::parse(obj)?;
        if let (Some(refused), Some(summary)) = (&self.refused_summary, &fields.summary)
            && summary.contains(refused.as_str())
        {
            return Err(halo_error(400, "The summary is not allowed"));
        }
        match opt_id(obj, "id")?.filter(|id| *id != 0) {
            Some(id) if self.tickets.contains_key(&id) => Ok(TicketWrite::Update(id, fields)),
            Some(_) => Err(not_found("Ticket")),
            None => {
                if let Some(msg) = &self.reject_creates {
                    return Err(halo_error(400, msg));
                }
                if fields.tickettype_id != Some(TICKET_TYPE.0) {
                    return Err(ApiError::Text(400, NO_TICKET_TYPE));
                }
                Ok(TicketWrite::Create(fields))
            }
        }
    }

    /// Applies a validated write; returns the ticket id and whether it is new.
    pub(crate) fn apply_ticket_write(&mut self, write: TicketWrite) -> (u64, bool) {
        match write {
            TicketWrite::Create(mut fields) => {
                // Like HaloITSM, a create ignores `status_id`: new tickets start as "New".
                fields.status_id = None;
                let mut ticket = self.blank_ticket();
                fields.apply_to(&mut ticket);
                (self.insert_new(ticket), true)
            }
            TicketWrite::Update(id, mut fields) => {
                let status = fields.status_id.take();
                if let Some(ticket) = self.tickets.get_mut(&id) {
                    let old = ticket.third_party_id_string.clone();
                    fields.apply_to(ticket);
                    // Any update counts as a change, as Halo stamps it whatever was sent.
                    ticket.last_update = SystemTime::now();
                    let new = ticket.third_party_id_string.clone();
                    self.reindex(id, old.as_deref(), new.as_deref());
                }
                if let Some(status) = status {
                    self.change_status(id, status, false);
                }
                (id, false)
            }
        }
    }
}
