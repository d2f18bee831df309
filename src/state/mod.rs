//! Shared state (CONTRACT §5): the event, delivery and signature ledgers, reference ↔ ticket
//! links, per-ticket sync progress, claims that serialise work on one incident or ticket, and
//! records of unfinished work (`work`) for the `Reconcile` function.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::http::Deadline;

pub mod blob;
pub mod memory;
pub mod observed;
pub mod work;

/// A state operation that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Someone else holds the claim and the deadline passed first.
    #[error("claim {key} is held elsewhere")]
    Busy {
        /// The claim key.
        key: String,
        /// Seconds until the holder's claim runs out.
        retry_after: u64,
    },
    /// The store cannot be reached or answered an error.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
}

/// A ticket's link to its ContraForce incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// `cf|{source}|{incidentId}`.
    pub reference: String,
    /// The incident's `data.accountId`, when it had one (CONTRACT §8.6).
    pub account_id: Option<String>,
}

/// How far a ticket has been mirrored to ContraForce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TicketSync {
    /// Highest action id already forwarded (or present when we created the ticket).
    pub watermark: u64,
    /// The ticket's current closing has been mirrored.
    pub close_mirrored: bool,
    /// The bridge asked Halo to close the ticket and has not seen that confirmed: whatever
    /// happens next (the process dies, the call times out), the close Halo then reports is ours
    /// and is never echoed, and a retry of the same close is still made (CONTRACT §13).
    pub closing: bool,
    /// The action whose ContraForce comment post failed ambiguously (it may have been posted):
    /// the next attempt lists the incident's comments before posting it again.
    pub doubt: Option<u64>,
    /// For a ticket the bridge created: its newest action's date in Halo's create answer (100 ns
    /// ticks since the epoch). The first listing of its actions raises the watermark to the highest action dated at
    /// or before it, the highest action id the ticket had at creation, then clears it.
    pub created_at: Option<i64>,
    /// The ticket's `lastactiondate` (100 ns ticks) when the bridge last processed it: a sweep
    /// that lists it unchanged since costs no call (CONTRACT §12).
    pub seen_action: Option<i64>,
}

/// Held while one request works on one key. `release` frees it before the answer goes out;
/// dropping it frees it too, as a fallback (and a blob claim also expires on its own).
pub struct Claim {
    holder: Option<Box<dyn ClaimHolder>>,
}

/// What keeps a claim alive, and how it lets go.
#[async_trait]
pub trait ClaimHolder: Send + Sync {
    /// Frees the claim now.
    async fn release(self: Box<Self>);
}

impl Claim {
    /// Wraps a backend's holder.
    pub fn new(holder: impl ClaimHolder + 'static) -> Self {
        Self {
            holder: Some(Box::new(holder)),
        }
    }

    /// Frees the claim and waits until others can take it.
    pub async fn release(mut self) {
        if let Some(holder) = self.holder.take() {
            holder.release().await;
        }
    }
}

/// One interface, two backends (`memory`, `blob`).
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The ticket recorded for an already processed ContraForce event.
    async fn processed_event(&self, event_id: &str) -> Result<Option<u64>, StateError>;
    /// Records a processed ContraForce event (forgotten after the ledger TTL).
    async fn record_event(&self, event_id: &str, ticket_id: u64) -> Result<(), StateError>;
    /// Whether a Halo delivery id was already answered with 200.
    async fn delivery_processed(&self, delivery_id: &str) -> Result<bool, StateError>;
    /// Records an answered Halo delivery id (forgotten after the ledger TTL).
    async fn record_delivery(&self, delivery_id: &str) -> Result<(), StateError>;
    /// The ticket linked to a reference.
    async fn ticket_for_reference(&self, reference: &str) -> Result<Option<u64>, StateError>;
    /// The reference (and account) linked to a ticket.
    async fn link_for_ticket(&self, ticket_id: u64) -> Result<Option<Link>, StateError>;
    /// Links reference and ticket both ways, with the incident's account, unless the reference
    /// is already another ticket's (create-if-absent: a reference stays with the ticket first
    /// linked to it). Returns the ticket the reference is linked to afterwards.
    async fn link(
        &self,
        reference: &str,
        ticket_id: u64,
        account_id: Option<&str>,
    ) -> Result<u64, StateError>;
    /// Drops the reference's link to this ticket (Halo no longer has it).
    async fn unlink(&self, reference: &str, ticket_id: u64) -> Result<(), StateError>;
    /// A ticket's sync progress (default when never seen).
    async fn ticket_sync(&self, ticket_id: u64) -> Result<TicketSync, StateError>;
    /// Stores a ticket's sync progress.
    async fn set_ticket_sync(&self, ticket_id: u64, sync: TicketSync) -> Result<(), StateError>;
    /// The event that first carried a signature MAC, recording `event_id` for it when the MAC is
    /// new (or its entry older than `ttl`): a create-if-absent (CONTRACT §8.2).
    async fn remember_mac(
        &self,
        mac: &str,
        event_id: &str,
        ttl: Duration,
    ) -> Result<String, StateError>;
    /// Waits until `key` is free (or `deadline`), then holds it until the claim is dropped
    /// or `hold_for` passes, whichever is first.
    async fn claim(
        &self,
        key: &str,
        deadline: Deadline,
        hold_for: Duration,
    ) -> Result<Claim, StateError>;
    /// Holds `key` for up to `hold_for` when nobody else does; `None` at once when someone does.
    async fn try_claim(&self, key: &str, hold_for: Duration) -> Result<Option<Claim>, StateError>;
    /// Stores a record of `kind` under `key` (replacing any): for records one owner writes.
    async fn put_record(&self, kind: &str, key: &str, value: &Value) -> Result<(), StateError>;
    /// Stores a record only when there is none under `key` (create-if-absent); false when one
    /// was there first.
    async fn create_record(&self, kind: &str, key: &str, value: &Value)
    -> Result<bool, StateError>;
    /// The record of `kind` under `key`.
    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Value>, StateError>;
    /// Every record of `kind`, as `(key, value)`, in no particular order.
    async fn list_records(&self, kind: &str) -> Result<Vec<(String, Value)>, StateError>;
    /// Deletes the record of `kind` under `key` (absent is fine).
    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StateError>;
    /// Deletes the record only while it still equals `seen`; false when it changed meanwhile.
    async fn delete_record_if(
        &self,
        kind: &str,
        key: &str,
        seen: &Value,
    ) -> Result<bool, StateError>;
    /// Adds `key` (letters, digits, `-`, `_`, `.`) to the ordered index `index`.
    async fn index_put(&self, index: &str, key: &str) -> Result<(), StateError>;
    /// Removes `key` from `index` (absent is fine).
    async fn index_delete(&self, index: &str, key: &str) -> Result<(), StateError>;
    /// The keys of `index` up to and including `upto`, in byte order, at most `limit`: what is
    /// due, read without touching what is not (CONTRACT §13).
    async fn index_range(
        &self,
        index: &str,
        upto: &str,
        limit: usize,
    ) -> Result<Vec<String>, StateError>;
}
