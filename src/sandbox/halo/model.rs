//! The fake Halo's public data types: its settings, the records it stores, and the response
//! shapes it can be switched between.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

/// Settings of a [`FakeHalo`](super::FakeHalo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeHaloConfig {
    /// Id of the first ticket created (global sequence).
    pub first_ticket_id: u64,
    /// `expires_in` of issued tokens; a token is refused once it has expired.
    pub token_ttl_secs: u64,
    /// Agent id of records created through the API (the integration's own agent).
    pub integration_agent_id: u64,
    /// Statuses that count as closed (`hasbeenclosed: true`).
    pub closed_status_ids: Vec<u64>,
    /// OAuth client id the token endpoint accepts.
    pub client_id: String,
    /// OAuth client secret the token endpoint accepts.
    pub client_secret: String,
}

impl Default for FakeHaloConfig {
    fn default() -> Self {
        FakeHaloConfig {
            first_ticket_id: 1000,
            token_ttl_secs: 3600,
            integration_agent_id: 12,
            closed_status_ids: vec![9],
            client_id: "sandbox-halo-client".to_owned(),
            client_secret: "sandbox-halo-secret".to_owned(),
        }
    }
}

/// What becomes of a write whose answer is lost (the connection breaks, as a gateway timeout or
/// a crash would break it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFate {
    /// Halo completes it this long after the request (zero: at once, only the answer is lost).
    CompleteAfter(std::time::Duration),
    /// It never happens.
    Never,
}

/// How the fake answers an array POST with `returnall=true` (Halo documents little about
/// arrays; the bridge must be exact under each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArrayAnswers {
    /// Every result, in the order sent.
    #[default]
    InOrder,
    /// Every result, in another order (reversed).
    Shuffled,
    /// Only the last result, as without `returnall`.
    LastOnly,
}

/// Which write endpoint a lost answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// `POST /api/Tickets` (creates and updates: a close is one).
    Tickets,
    /// `POST /api/Actions` (notes).
    Actions,
}

/// Something that happens to the tenant right after a page of a ticket listing is served, while
/// a client walks the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetweenPages {
    /// The ticket changes (its last update moves to now).
    Touch(u64),
    /// The ticket is deleted (merged away).
    Delete(u64),
}

/// How ticket ids are written in responses: `3`, `3.0` or `"3"` (real Halo mixes all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdStyle {
    /// `3`
    #[default]
    Int,
    /// `3.0`
    Float,
    /// `"3"`
    Str,
}

/// Shape of list responses for tickets, actions and clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListShape {
    /// `{"record_count":n,"tickets":[…]}`
    #[default]
    Wrapped,
    /// `[…]`
    Bare,
}

/// A ticket as the fake stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HaloTicket {
    /// Global ticket id.
    pub id: u64,
    /// Title.
    pub summary: String,
    /// HTML body.
    pub details_html: String,
    /// Ticket type.
    pub tickettype_id: Option<u64>,
    /// Customer.
    pub client_id: Option<u64>,
    /// Priority (within the SLA).
    pub priority_id: Option<u64>,
    /// External reference: Halo's documented external-id text field.
    pub third_party_id_string: Option<String>,
    /// Custom field values by field id.
    pub customfields: Vec<(u64, Value)>,
    /// Team name.
    pub team: Option<String>,
    /// Category path.
    pub category_1: Option<String>,
    /// Current status.
    pub status_id: u64,
    /// Name of the current status.
    pub status_name: String,
    /// Whether the ticket is closed.
    pub hasbeenclosed: bool,
    /// When it last changed (created, action added, status or field edited); UTC.
    pub last_update: SystemTime,
    /// Other documented fields a client wrote, kept and written back as sent.
    pub other: BTreeMap<String, Value>,
}

/// An action (note, status change, …) on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HaloAction {
    /// Per-ticket sequence number, starting at 1.
    pub id: u64,
    /// Ticket the action belongs to.
    pub ticket_id: u64,
    /// Outcome name.
    pub outcome: String,
    /// Author's display name.
    pub who: String,
    /// Author's agent id.
    pub agent_id: u64,
    /// Private note.
    pub hiddenfromuser: bool,
    /// Plain-text note.
    pub note: String,
    /// HTML note.
    pub note_html: String,
    /// System action (dropped by `excludesys=true`).
    pub system: bool,
    /// When it was written (RFC 3339, UTC).
    pub datetime: String,
}
