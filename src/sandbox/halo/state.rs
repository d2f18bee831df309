//! The fake Halo's in-memory model: tickets, actions, issued tokens, id sequences and status
//! changes, plus the behaviour switches set through the handle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::clock::rfc3339;
use super::lookup::status_name;
use super::model::{FakeHaloConfig, HaloAction, HaloTicket, IdStyle, ListShape};
use super::subscriptions::{DeliveryRecord, Subscription};

/// Who the fake names as the author of records created through the API.
pub(super) const API_AGENT: &str = "API Agent";
const SYSTEM_AGENT: &str = "System";
/// The agent a tenant's automations write as.
const AUTOMATION_AGENT: u64 = 99;
pub(super) const STATUS_CHANGE: &str = "Status Change";

/// Everything the fake Halo knows, behind one lock.
pub(super) struct State {
    pub(super) cfg: FakeHaloConfig,
    next_ticket_id: u64,
    pub(super) tickets: BTreeMap<u64, HaloTicket>,
    /// `third_party_id_string` → tickets carrying it, so a lookup need not scan every ticket.
    pub(super) by_reference: HashMap<String, BTreeSet<u64>>,
    pub(super) actions: BTreeMap<u64, Vec<HaloAction>>,
    /// Issued access tokens and when each expires.
    pub(super) tokens: HashMap<String, Instant>,
    pub(super) reject_creates: Option<String>,
    /// An older Halo build: `third_party_id_string=` is not a filter it knows.
    pub(super) ignore_reference_filter: bool,
    /// Every undocumented name a client sent (`surface::undocumented_in`).
    pub(super) undocumented: BTreeSet<String>,
    /// What becomes of the next write of each kind (its answer is lost), when set.
    pub(super) next_fate: Vec<(super::model::WriteKind, super::model::WriteFate)>,
    /// A listing without `order` lists the most recently updated first (Halo's queue view),
    /// instead of the newest id first.
    pub(super) default_order_by_update: bool,
    /// After serving this page of a paged ticket listing, this happens (once).
    pub(super) between_pages: Option<(usize, super::model::BetweenPages)>,
    /// How array POSTs are answered.
    pub(super) array_answers: super::model::ArrayAnswers,
    /// A ticket write whose summary contains this is refused (one bad object in an array).
    pub(super) refused_summary: Option<String>,
    /// A public note an automation adds to every new ticket as it is created, when set.
    pub(super) creation_note: Option<String>,
    /// Writes Halo completes late: when, and what.
    pub(super) late_writes: Vec<(Instant, LateWrite)>,
    pub(super) list_shape: ListShape,
    pub(super) id_style: IdStyle,
    /// Webhooks the tenant has configured (`GET /api/Webhook`), in registration order.
    pub(super) webhooks: Vec<Subscription>,
    pub(super) webhooks_forbidden: bool,
    /// Every webhook delivery made, oldest first (`GET /api/WebhookEvent`).
    pub(super) webhook_events: Vec<DeliveryRecord>,
}

/// A validated write Halo completes later.
pub(super) enum LateWrite {
    Tickets(Vec<super::tickets::TicketWrite>),
    Actions(Vec<(u64, ActionDraft, Option<u64>)>),
}

/// What an action write carries, before it gets an id.
pub(super) struct ActionDraft {
    pub(super) outcome: String,
    pub(super) who: String,
    pub(super) agent_id: u64,
    pub(super) hiddenfromuser: bool,
    pub(super) note: String,
    pub(super) note_html: String,
    pub(super) system: bool,
}

impl ActionDraft {
    /// A system action (dropped by `excludesys=true`) with a plain-text note.
    pub(super) fn system(outcome: &str, note: String) -> ActionDraft {
        ActionDraft {
            outcome: outcome.to_owned(),
            who: SYSTEM_AGENT.to_owned(),
            agent_id: 0,
            hiddenfromuser: false,
            note_html: html_escape::encode_text(&note).into_owned(),
            note,
            system: true,
        }
    }
}

impl State {
    pub(super) fn new(cfg: FakeHaloConfig) -> State {
        State {
            next_ticket_id: cfg.first_ticket_id,
            cfg,
            tickets: BTreeMap::new(),
            by_reference: HashMap::new(),
            actions: BTreeMap::new(),
            tokens: HashMap::new(),
            reject_creates: None,
            ignore_reference_filter: false,
            undocumented: BTreeSet::new(),
            next_fate: Vec::new(),
            creation_note: None,
            array_answers: super::model::ArrayAnswers::default(),
            refused_summary: None,
            default_order_by_update: false,
            between_pages: None,
            late_writes: Vec::new(),
            list_shape: ListShape::default(),
            id_style: IdStyle::default(),
            webhooks: Vec::new(),
            webhooks_forbidden: false,
            webhook_events: Vec::new(),
        }
    }

    /// Completes the creates whose time has come (see `WriteFate`).
    pub(super) fn apply_late_writes(&mut self) {
        if self.late_writes.is_empty() {
            return;
        }
        let now = Instant::now();
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.late_writes)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.late_writes = waiting;
        for (_, write) in due {
            match write {
                LateWrite::Tickets(writes) => {
                    for write in writes {
                        self.apply_ticket_write(write);
                    }
                }
                LateWrite::Actions(writes) => {
                    for (ticket_id, draft, new_status) in writes {
                        self.push_action(ticket_id, draft);
                        if let Some(status) = new_status {
                            self.change_status(ticket_id, status, false);
                        }
                    }
                }
            }
        }
    }

    /// Takes the fate set for the next write of `kind`.
    pub(super) fn take_fate(
        &mut self,
        kind: super::model::WriteKind,
    ) -> Option<super::model::WriteFate> {
        let index = self.next_fate.iter().position(|(k, _)| *k == kind)?;
        Some(self.next_fate.remove(index).1)
    }

    pub(super) fn ticket_mut(&mut self, id: u64) -> &mut HaloTicket {
        expect_ticket(self.tickets.get_mut(&id), id)
    }

    /// A new ticket with the next id and Halo's initial status; not yet stored.
    pub(super) fn blank_ticket(&mut self) -> HaloTicket {
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        HaloTicket {
            id,
            summary: String::new(),
            details_html: String::new(),
            tickettype_id: None,
            client_id: None,
            priority_id: None,
            third_party_id_string: None,
            customfields: Vec::new(),
            team: None,
            category_1: None,
            status_id: 1,
            status_name: status_name(1),
            hasbeenclosed: false,
            last_update: SystemTime::now(),
            other: BTreeMap::new(),
        }
    }

    /// Keeps the `third_party_id_string` index in step with a ticket's old and new reference.
    pub(super) fn reindex(&mut self, id: u64, old: Option<&str>, new: Option<&str>) {
        if old == new {
            return;
        }
        if let Some(old) = old
            && let Some(ids) = self.by_reference.get_mut(old)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_reference.remove(old);
            }
        }
        if let Some(new) = new {
            self.by_reference
                .entry(new.to_owned())
                .or_default()
                .insert(id);
        }
    }

    /// Stores a new ticket and logs its creation as action 1, as Halo does.
    pub(super) fn insert_new(&mut self, ticket: HaloTicket) -> u64 {
        let id = ticket.id;
        let reference = ticket.third_party_id_string.clone();
        self.tickets.insert(id, ticket);
        self.reindex(id, None, reference.as_deref());
        let logged = ActionDraft {
            outcome: "Ticket Logged".to_owned(),
            who: API_AGENT.to_owned(),
            agent_id: self.cfg.integration_agent_id,
            hiddenfromuser: false,
            note: String::new(),
            note_html: String::new(),
            system: false,
        };
        self.push_action(id, logged);
        if let Some(note) = self.creation_note.clone() {
            let automation = ActionDraft {
                outcome: "Note".to_owned(),
                who: "Automation".to_owned(),
                agent_id: AUTOMATION_AGENT,
                hiddenfromuser: false,
                note_html: html_escape::encode_text(&note).into_owned(),
                note,
                system: false,
            };
            self.push_action(id, automation);
        }
        id
    }

    /// Appends an action with the next per-ticket id and bumps the ticket's last update to the
    /// action's time; `None` if the ticket does not exist.
    pub(super) fn push_action(&mut self, ticket_id: u64, draft: ActionDraft) -> Option<u64> {
        let now = SystemTime::now();
        // One clock reading for both, so `lastactiondate` equals the newest action's `datetime`.
        self.tickets.get_mut(&ticket_id)?.last_update = now;
        let list = self.actions.entry(ticket_id).or_default();
        let id = list.iter().map(|a| a.id).max().unwrap_or(0) + 1;
        list.push(HaloAction {
            id,
            ticket_id,
            outcome: draft.outcome,
            who: draft.who,
            agent_id: draft.agent_id,
            hiddenfromuser: draft.hiddenfromuser,
            note: draft.note,
            note_html: draft.note_html,
            system: draft.system,
            datetime: rfc3339(now),
        });
        Some(id)
    }

    /// Sets a status by id, keeping `hasbeenclosed` in step, and bumps the last update;
    /// optionally logs a system action.
    pub(super) fn change_status(
        &mut self,
        ticket_id: u64,
        status_id: u64,
        log: bool,
    ) -> Option<()> {
        let closed = self.cfg.closed_status_ids.contains(&status_id);
        let ticket = self.tickets.get_mut(&ticket_id)?;
        let old = std::mem::replace(&mut ticket.status_name, status_name(status_id));
        ticket.status_id = status_id;
        ticket.hasbeenclosed = closed;
        ticket.last_update = SystemTime::now();
        if log {
            let note = format!("Status changed from {old} to {}", status_name(status_id));
            self.push_action(ticket_id, ActionDraft::system(STATUS_CHANGE, note));
        }
        Some(())
    }

    pub(super) fn token_is_live(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    /// A list answer in the configured [`ListShape`], wrapped under `key`.
    pub(super) fn list(&self, key: &str, items: Vec<Value>, total: usize) -> Value {
        match self.list_shape {
            ListShape::Bare => Value::Array(items),
            ListShape::Wrapped => {
                let mut wrapper = Map::new();
                wrapper.insert("record_count".to_owned(), json!(total));
                wrapper.insert(key.to_owned(), Value::Array(items));
                Value::Object(wrapper)
            }
        }
    }
}

/// The ticket a seeding knob was given, or a panic naming it: seeding a missing ticket is a bug
/// in the test.
pub(super) fn expect_ticket<T>(found: Option<T>, ticket_id: u64) -> T {
    found.unwrap_or_else(|| panic!("fake Halo has no ticket {ticket_id}"))
}

/// Replaces or appends a custom field value.
pub(super) fn set_field(fields: &mut Vec<(u64, Value)>, id: u64, value: Value) {
    match fields.iter_mut().find(|(fid, _)| *fid == id) {
        Some(slot) => slot.1 = value,
        None => fields.push((id, value)),
    }
}
