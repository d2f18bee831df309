//! Halo calls that carry many objects (CONTRACT §12): reference lookups of store misses that wait
//! together share one date-window listing, ticket creates leave in one
//! `POST /Tickets?returnall=true`, notes in one `POST /Actions?returnall=true`. Each request still
//! gets its own result. Halo documents little about arrays, so an answer is matched to requests
//! by reference (creates), never by position, and the bridge is exact whether Halo answers every
//! object in order, in another order, only the last one, or refuses the whole array for one bad
//! object (the batch is split until the bad object is alone and gets the error it would get
//! alone).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use super::batch::{Queue, Work, timed_out};
use super::client::{Created, HaloClient};
use super::lookup::Lookup;
use super::model::{Ticket, flex_id, list_items};
use crate::http::budget::Priority;
use crate::http::retry::Idempotency;
use crate::http::{Deadline, UpstreamError};
use crate::settings::NoteOutcome;

/// A ticket to create.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The element of the create array.
    pub ticket: Value,
    /// Its reference, which the answer is matched by.
    pub reference: String,
    /// Where a listing that looks for it starts (Unix seconds, `lookup::window_start`).
    pub since: i64,
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

type LookupResult = Result<Lookup, UpstreamError>;
type CreateResult = Result<Created, UpstreamError>;
type NoteResult = Result<(), UpstreamError>;

/// The process's queues (one of each kind, shared by every copy of the client).
pub(super) struct Queues {
    lookups: Queue<(String, i64), LookupResult>,
    creates: Queue<NewTicket, CreateResult>,
    notes: Queue<NewNote, NoteResult>,
}

impl Queues {
    pub(super) fn new(max: usize) -> Self {
        Self {
            lookups: Queue::new(max),
            creates: Queue::new(max),
            notes: Queue::new(max),
        }
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = Vec<T>> + Send>>;

impl HaloClient {
    /// The client a batch's calls go through: the process's budget, not a run's lane (a run's
    /// requests join the same queues as everyone's).
    fn leader(&self) -> HaloClient {
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
            Box::pin(async move { leader.lookup_batch(items, deadline, priority).await })
                as Boxed<_>
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

    /// Creates a ticket; creates that wait together leave in one call.
    pub async fn create(
        &self,
        new: NewTicket,
        priority: Priority,
        deadline: Deadline,
    ) -> CreateResult {
        let leader = self.leader();
        let work: Work<NewTicket, CreateResult> = Arc::new(move |items, deadline, priority| {
            let leader = leader.clone();
            Box::pin(async move { leader.create_batch(items, deadline, priority).await })
                as Boxed<_>
        });
        self.queues
            .creates
            .submit(new, priority, deadline, work, || Err(timed_out()))
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

    async fn lookup_batch(
        &self,
        items: Vec<(String, i64)>,
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
        match self
            .scan_window(&references, since, Some(&permit), deadline)
            .await
        {
            Ok(found) => found.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e); items.len()],
        }
    }

    /// `POST /Tickets?returnall=true` with every ticket; each result matched by reference.
    fn create_batch(
        &self,
        items: Vec<NewTicket>,
        deadline: Deadline,
        priority: Priority,
    ) -> Pin<Box<dyn Future<Output = Vec<CreateResult>> + Send + '_>> {
        Box::pin(async move {
            let permit = match self.reserve(1, priority, deadline).await {
                Ok(permit) => permit,
                Err(e) => return vec![Err(e); items.len()],
            };
            let body = Value::Array(items.iter().map(|i| i.ticket.clone()).collect());
            let answer = self
                .call(
                    Method::POST,
                    "Tickets",
                    |r| r.query(&[("returnall", "true")]).json(&body),
                    Idempotency::Unsafe,
                    Some(&permit),
                    deadline,
                )
                .await;
            match answer {
                Ok(answer) => self.match_created(&items, &answer, deadline).await,
                // One bad object may refuse the whole array: halves, until it is alone.
                Err(e @ (UpstreamError::Rejected { .. } | UpstreamError::NotFound { .. }))
                    if items.len() > 1 =>
                {
                    tracing::info!(objects = items.len(), error = %e, "halo refused a batch of creates: splitting it");
                    let mut items = items;
                    let second = items.split_off(items.len() / 2);
                    let mut results = self.create_batch(items, deadline, priority).await;
                    results.extend(self.create_batch(second, deadline, priority).await);
                    results
                }
                Err(e) => vec![Err(e); items.len()],
            }
        })
    }

    /// Each request's ticket in Halo's answer, found by its reference; the ones the answer does
    /// not show (Halo answered only the last object) by one listing.
    async fn match_created(
        &self,
        items: &[NewTicket],
        answer: &Value,
        deadline: Deadline,
    ) -> Vec<CreateResult> {
        let records: Vec<&serde_json::Map<String, Value>> = match answer {
            Value::Object(o) => vec![o],
            other => list_items(other, "tickets")
                .iter()
                .filter_map(Value::as_object)
                .collect(),
        };
        let mut by_reference: HashMap<String, Created> = HashMap::new();
        for record in records {
            let Some(ticket) = Ticket::from_json(record) else {
                continue;
            };
            let Some(reference) = ticket.reference(self.external_ref_field_id) else {
                continue;
            };
            let id = record.get("id").and_then(flex_id).unwrap_or(ticket.id);
            by_reference.entry(reference.to_owned()).or_insert(Created {
                id,
                last_action: ticket.last_action,
            });
        }
        let missing: Vec<&NewTicket> = items
            .iter()
            .filter(|i| !by_reference.contains_key(&i.reference))
            .collect();
        if !missing.is_empty() {
            let since = missing.iter().map(|i| i.since).min().unwrap_or_default();
            let references: Vec<&str> = missing.iter().map(|i| i.reference.as_str()).collect();
            match self.scan_window(&references, since, None, deadline).await {
                Ok(found) => {
                    for (reference, lookup) in references.iter().zip(found) {
                        if let Lookup::Found(id) = lookup {
                            by_reference.insert(
                                (*reference).to_owned(),
                                Created {
                                    id,
                                    last_action: None,
                                },
                            );
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "created tickets not found by listing"),
            }
        }
        items
            .iter()
            .map(|i| {
                by_reference.get(&i.reference).copied().ok_or_else(|| {
                    UpstreamError::unavailable_after_send(
                        crate::http::System::Halo,
                        "the create answer does not show this ticket",
                    )
                })
            })
            .collect()
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
            let permit = match self.reserve(1, priority, deadline).await {
                Ok(permit) => permit,
                Err(e) => return vec![Err(e); items.len()],
            };
            let body = Value::Array(items.iter().map(note_json).collect());
            let answer = self
                .call(
                    Method::POST,
                    "Actions",
                    |r| r.query(&[("returnall", "true")]).json(&body),
                    Idempotency::Unsafe,
                    Some(&permit),
                    deadline,
                )
                .await;
            match answer {
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
