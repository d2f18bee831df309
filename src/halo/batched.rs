//! Halo calls that carry many objects (CONTRACT §12): reference lookups of store misses that wait
//! together share one date-window listing, ticket creates leave in one
//! `POST /Tickets?returnall=true`, notes in one `POST /Actions?returnall=true`. Each request still
//! gets its own result. Halo documents little about arrays, so an answer is matched to requests
//! by reference (creates), never by position, and the bridge is exact whether Halo answers every
//! object in order, in another order, only the last one, or refuses the whole array for one bad
//! object (the batch is split until the bad object is alone and gets the error it would get
//! alone).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};

use super::batch::{Queue, STORM_LINGER, Work, timed_out};
use super::client::{Created, HaloClient};
use super::creates::{FindReply, Unshown};
use super::lookup::Lookup;
use crate::http::budget::Priority;
use crate::http::retry::Idempotency;
use crate::http::{Deadline, UpstreamError};
use crate::settings::NoteOutcome;

/// Runs after the lookup found nothing, just before the create is sent: the caller records that
/// a create may be under way (CONTRACT §13). An error keeps the create unsent and is its result.
pub type BeforeCreate =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), UpstreamError>> + Send>> + Send + Sync>;

/// A ticket to find, else create.
#[derive(Clone)]
pub struct NewTicket {
    /// The element of the create array.
    pub ticket: Value,
    /// Its reference, which lookups and the answer are matched by.
    pub reference: String,
    /// Where a listing that looks for it starts (Unix seconds, `lookup::window_start`).
    pub since: i64,
    /// Run before its create is sent.
    pub before_create: Option<BeforeCreate>,
}

impl std::fmt::Debug for NewTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTicket")
            .field("reference", &self.reference)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

/// A note to add.
#[derive(Debug, Clone)]
pub struct NewNote {
    /// The ticket.
    pub ticket_id: u64,
    /// Its HTML.
    pub note_html: String,
    /// Its outcome.
    pub outcome: NoteOutcome,
    /// `hiddenfromuser`.
    pub private: bool,
}

/// What finding or creating an incident's ticket came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundOrCreated {
    /// Halo had it (the lowest id carrying the reference).
    Found(u64),
    /// It was made now.
    Created(Created),
}

pub(super) type LookupResult = Result<Lookup, UpstreamError>;
pub(super) type FindResult = Result<FoundOrCreated, UpstreamError>;
type NoteResult = Result<(), UpstreamError>;

/// The process's queues (one of each kind, shared by every copy of the client).
pub(super) struct Queues {
    lookups: Queue<(String, i64), LookupResult>,
    pub(super) finds: Queue<NewTicket, FindReply>,
    notes: Queue<NewNote, NoteResult>,
    /// Tickets created by a call whose answer did not show them, found by the next lookup.
    pub(super) unshown: Mutex<Vec<Unshown>>,
}

impl Queues {
    pub(super) fn new(max: usize) -> Self {
        Self {
            lookups: Queue::new(max),
            finds: Queue::new(max).lingering(STORM_LINGER),
            notes: Queue::new(max).lingering(STORM_LINGER),
            unshown: Mutex::default(),
        }
    }
}

/// Whether a listing may start from what the process read of the window lately.
#[derive(Debug, Clone, Copy)]
pub(super) enum Memory {
    /// Yes (creates: the window the storm keeps adding to).
    Recent,
    /// No: a create in doubt, or an event that only looks, reads Halo afresh.
    Fresh,
}

pub(super) type Boxed<T> = Pin<Box<dyn Future<Output = Vec<T>> + Send>>;

impl HaloClient {
    /// The client a batch's calls go through: the process's budget, not a run's lane (a run's
    /// requests join the same queues as everyone's).
    pub(super) fn leader(&self) -> HaloClient {
        self.without_lane()
    }

    /// Looks an incident's ticket up by its reference; store misses that wait together share one
    /// date-window listing from the oldest `since`.
    pub async fn lookup(
        &self,
        reference: &str,
        since: i64,
        priority: Priority,
        deadline: Deadline,
    ) -> LookupResult {
        let leader = self.leader();
        let work: Work<(String, i64), LookupResult> = Arc::new(move |items, deadline, priority| {
            let leader = leader.clone();
            Box::pin(async move {
                leader
                    .lookup_batch(items, Memory::Fresh, deadline, priority)
                    .await
            }) as Boxed<_>
        });
        self.queues
            .lookups
            .submit(
                (reference.to_owned(), since),
                priority,
                deadline,
                work,
                || Err(timed_out()),
            )
            .await
    }

    /// Adds a note to a ticket, private (`hiddenfromuser`) or public; notes that wait together
    /// (for one ticket or several) leave in one call.
    pub async fn add_note(
        &self,
        ticket_id: u64,
        note_html: &str,
        outcome: &NoteOutcome,
        private: bool,
        deadline: Deadline,
    ) -> NoteResult {
        let leader = self.leader();
        let work: Work<NewNote, NoteResult> = Arc::new(move |items, deadline, priority| {
            let leader = leader.clone();
            Box::pin(async move { leader.note_batch(items, deadline, priority).await }) as Boxed<_>
        });
        let note = NewNote {
            ticket_id,
            note_html: note_html.to_owned(),
            outcome: outcome.clone(),
            private,
        };
        self.queues
            .notes
            .submit(note, crate::http::budget::ROUTINE, deadline, work, || {
                Err(timed_out())
            })
            .await
    }

    pub(super) async fn lookup_batch(
        &self,
        items: Vec<(String, i64)>,
        memory: Memory,
        deadline: Deadline,
        priority: Priority,
    ) -> Vec<LookupResult> {
        let permit = match self.reserve(1, priority, deadline).await {
            Ok(permit) => permit,
            Err(e) => return vec![Err(e); items.len()],
        };
        if let [(reference, since)] = items.as_slice() {
            return vec![
                self.find_ticket(reference, *since, Some(&permit), deadline)
                    .await,
            ];
        }
        let since = items.iter().map(|(_, s)| *s).min().unwrap_or_default();
        let references: Vec<&str> = items.iter().map(|(r, _)| r.as_str()).collect();
        let scanned = match memory {
            Memory::Recent => {
                self.scan_recent(&references, since, Some(&permit), deadline)
                    .await
            }
            Memory::Fresh => {
                self.scan_window(&references, since, Some(&permit), deadline)
                    .await
            }
        };
        match scanned {
            Ok(found) => found.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e); items.len()],
        }
    }

    /// `POST /Actions?returnall=true` with every note. Halo checks an array whole before it
    /// applies any of it, so a 2xx answer means every note was added.
    fn note_batch(
        &self,
        items: Vec<NewNote>,
        deadline: Deadline,
        priority: Priority,
    ) -> Pin<Box<dyn Future<Output = Vec<NoteResult>> + Send + '_>> {
        Box::pin(async move {
            let body = Value::Array(items.iter().map(note_json).collect());
            match self.post_array("Actions", &body, priority, deadline).await {
                Ok(_) => vec![Ok(()); items.len()],
                Err(e @ (UpstreamError::Rejected { .. } | UpstreamError::NotFound { .. }))
                    if items.len() > 1 =>
                {
                    tracing::info!(objects = items.len(), error = %e, "halo refused a batch of notes: splitting it");
                    let mut items = items;
                    let second = items.split_off(items.len() / 2);
                    let mut results = self.note_batch(items, deadline, priority).await;
                    results.extend(self.note_batch(second, deadline, priority).await);
                    results
                }
                Err(e) => vec![Err(e); items.len()],
            }
        })
    }
}

impl HaloClient {
    /// `POST /{resource}?returnall=true` with an array (creates, notes): one call of the
    /// process's budget, waited for at `priority`.
    pub(super) async fn post_array(
        &self,
        resource: &str,
        body: &Value,
        priority: Priority,
        deadline: Deadline,
    ) -> Result<Value, UpstreamError> {
        let permit = self.reserve(1, priority, deadline).await?;
        self.call(
            Method::POST,
            resource,
            |r| r.query(&[("returnall", "true")]).json(body),
            Idempotency::Unsafe,
            Some(&permit),
            deadline,
        )
        .await
    }
}

/// One element of the notes array.
fn note_json(note: &NewNote) -> Value {
    let mut action = json!({
        "ticket_id": note.ticket_id,
        "hiddenfromuser": note.private,
        "note_html": note.note_html,
    });
    match &note.outcome {
        NoteOutcome::Id(id) => action["outcome_id"] = json!(id),
        NoteOutcome::Name(name) => action["outcome"] = json!(name),
    }
    action
}
