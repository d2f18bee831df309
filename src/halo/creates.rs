//! Finding or creating incidents' tickets, many per call (CONTRACT §12): the store misses that
//! wait together share one lookup listing, and those Halo has no ticket for leave in one
//! `POST /Tickets?returnall=true`. Halo documents little about arrays, so an answer is matched to
//! requests by reference, never by position, and the bridge is exact whether Halo answers every
//! object in order, in another order, only the last one, or refuses the whole array for one bad
//! object (the batch is split until the bad object is alone and gets the error it would get
//! alone).
//!
//! The tickets an answer does not show are found by the next batch's lookup listing, which is read
//! anyway (or, when no batch follows, by a listing of their own): a storm against a Halo that
//! answers only the last object costs no more calls than one that answers all.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tokio::sync::oneshot;

use super::batch::{Work, timed_out};
use super::batched::{Boxed, FindResult, FoundOrCreated, Memory, NewTicket};
use super::client::{Created, HaloClient};
use super::lookup::Lookup;
use super::model::{Ticket, flex_id, list_items};
use crate::http::budget::Priority;
use crate::http::{Deadline, System, UpstreamError};

/// How often tickets left for the next batch's lookup check that one is still coming (requests
/// wait in the queue) before a listing of their own.
const UNSHOWN_WAIT: Duration = Duration::from_millis(500);

/// A ticket created by a call whose answer did not show it.
pub(crate) struct Unshown {
    reference: String,
    since: i64,
    deadline: Deadline,
    answer: oneshot::Sender<FindResult>,
}

/// A find-or-create's result: now, or once the next lookup has found the ticket made.
pub(crate) enum FindReply {
    Now(FindResult),
    Later(oneshot::Receiver<FindResult>),
}

/// What a create call came to for one ticket.
enum Made {
    /// Halo's answer shows it.
    Created(Created),
    /// The call succeeded; its answer does not show this ticket.
    Unshown,
    /// Not created (or not known to be).
    Failed(UpstreamError),
}

impl HaloClient {
    /// The incident's ticket: the lowest id carrying the reference, else a new one. Requests that
    /// wait together share one lookup listing and one create call.
    pub async fn find_or_create(
        &self,
        new: NewTicket,
        priority: Priority,
        deadline: Deadline,
    ) -> FindResult {
        let leader = self.leader();
        let work: Work<NewTicket, FindReply> = Arc::new(move |items, deadline, priority| {
            let leader = leader.clone();
            Box::pin(async move { leader.find_or_create_batch(items, deadline, priority).await })
                as Boxed<_>
        });
        let reply = self
            .queues
            .finds
            .submit(new, priority, deadline, work, || {
                FindReply::Now(Err(timed_out()))
            })
            .await;
        match reply {
            FindReply::Now(result) => result,
            FindReply::Later(later) => {
                match tokio::time::timeout_at(deadline.instant(), later).await {
                    Ok(Ok(result)) => result,
                    _ => Err(timed_out()),
                }
            }
        }
    }

    /// One lookup for the batch (and for the tickets the last create's answer did not show),
    /// then one create for those Halo does not have.
    async fn find_or_create_batch(
        &self,
        items: Vec<NewTicket>,
        deadline: Deadline,
        priority: Priority,
    ) -> Vec<FindReply> {
        let earlier = self.take_unshown();
        let asks = items
            .iter()
            .map(|i| (i.reference.clone(), i.since))
            .chain(earlier.iter().map(|u| (u.reference.clone(), u.since)))
            .collect();
        let mut lookups = self
            .lookup_batch(asks, Memory::Recent, deadline, priority)
            .await;
        let theirs = lookups.split_off(items.len());
        settle_unshown(earlier, theirs.into_iter().map(|l| l.ok()));

        let mut results: Vec<Option<FindReply>> = (0..items.len()).map(|_| None).collect();
        let mut absent = Vec::new();
        for (slot, (item, lookup)) in items.into_iter().zip(lookups).enumerate() {
            match lookup {
                Ok(Lookup::Found(id)) => {
                    results[slot] = Some(FindReply::Now(Ok(FoundOrCreated::Found(id))));
                }
                Ok(Lookup::Absent) => absent.push((slot, item)),
                // A security incident never goes without a ticket for want of a complete
                // search: the pages read held no ticket for it, so it is most likely new
                // (README, "Halo as its published API defines it").
                Ok(Lookup::Unsure { pages }) => {
                    tracing::warn!(
                        pages,
                        "no ticket for the incident in the pages read; creating one (raise HALO_LOOKUP_MAX_PAGES if this repeats)"
                    );
                    absent.push((slot, item));
                }
                // The lookup failed, so no create was sent: the request certainly had no effect.
                Err(e) => results[slot] = Some(FindReply::Now(Err(nothing_sent(e)))),
            }
        }
        let absent = self.ready_to_create(absent, &mut results).await;
        if !absent.is_empty() {
            let (slots, tickets): (Vec<usize>, Vec<NewTicket>) = absent.into_iter().unzip();
            let made = self.create_batch(tickets.clone(), deadline, priority).await;
            let mut unshown = Vec::new();
            for ((slot, ticket), made) in slots.into_iter().zip(tickets).zip(made) {
                let reply = match made {
                    Made::Created(created) => FindReply::Now(Ok(FoundOrCreated::Created(created))),
                    Made::Failed(e) => FindReply::Now(Err(e)),
                    Made::Unshown => {
                        unshown.push((slot, ticket));
                        continue;
                    }
                };
                results[slot] = Some(reply);
            }
            for (slot, reply) in self.find_unshown(unshown, deadline).await {
                results[slot] = Some(reply);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| FindReply::Now(Err(timed_out()))))
            .collect()
    }

    /// Runs each create's `before_create`; the ones whose hook failed get its error and are not
    /// sent.
    async fn ready_to_create(
        &self,
        absent: Vec<(usize, NewTicket)>,
        results: &mut [Option<FindReply>],
    ) -> Vec<(usize, NewTicket)> {
        let ready = join_all(absent.iter().map(|(_, item)| {
            let hook = item.before_create.clone();
            async move {
                match hook {
                    Some(hook) => hook().await,
                    None => Ok(()),
                }
            }
        }))
        .await;
        let mut sendable = Vec::new();
        for ((slot, item), ready) in absent.into_iter().zip(ready) {
            match ready {
                Ok(()) => sendable.push((slot, item)),
                Err(e) => results[slot] = Some(FindReply::Now(Err(e))),
            }
        }
        sendable
    }

    /// The tickets a create's answer did not show: left for the next batch's lookup when one
    /// waits (with a listing of their own after [`UNSHOWN_WAIT`] if none comes), else found now.
    async fn find_unshown(
        &self,
        unshown: Vec<(usize, NewTicket)>,
        deadline: Deadline,
    ) -> Vec<(usize, FindReply)> {
        if unshown.is_empty() {
            return Vec::new();
        }
        if self.queues.finds.waiting() > 0 {
            let mut replies = Vec::new();
            let mut left = self
                .queues
                .unshown
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (slot, ticket) in unshown {
                let (answer, later) = oneshot::channel();
                left.push(Unshown {
                    reference: ticket.reference,
                    since: ticket.since,
                    deadline,
                    answer,
                });
                replies.push((slot, FindReply::Later(later)));
            }
            drop(left);
            let leader = self.leader();
            tokio::spawn(async move {
                // The queue's next call (lingering for company, perhaps) takes them along.
                loop {
                    tokio::time::sleep(UNSHOWN_WAIT).await;
                    if leader.queues.finds.waiting() == 0 {
                        break;
                    }
                }
                leader.list_unshown().await;
            });
            return replies;
        }
        let references: Vec<&str> = unshown.iter().map(|(_, t)| t.reference.as_str()).collect();
        let since = unshown
            .iter()
            .map(|(_, t)| t.since)
            .min()
            .unwrap_or_default();
        let found = self
            .scan_recent(&references, since, None, deadline)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "created tickets not found by listing"))
            .ok();
        let found: Vec<Option<Lookup>> = match found {
            Some(found) => found.into_iter().map(Some).collect(),
            None => vec![None; unshown.len()],
        };
        unshown
            .into_iter()
            .zip(found)
            .map(|((slot, _), lookup)| (slot, FindReply::Now(created_by_listing(lookup))))
            .collect()
    }

    /// The tickets left for a lookup that did not come: one listing of their own.
    async fn list_unshown(&self) {
        let earlier = self.take_unshown();
        if earlier.is_empty() {
            return;
        }
        let references: Vec<&str> = earlier.iter().map(|u| u.reference.as_str()).collect();
        let since = earlier.iter().map(|u| u.since).min().unwrap_or_default();
        let deadline = earlier
            .iter()
            .map(|u| u.deadline)
            .max_by_key(|d| d.instant())
            .unwrap_or_else(|| Deadline::after(UNSHOWN_WAIT));
        let found = self.scan_recent(&references, since, None, deadline).await;
        let found: Vec<Option<Lookup>> = match found {
            Ok(found) => found.into_iter().map(Some).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "created tickets not found by listing");
                vec![None; earlier.len()]
            }
        };
        settle_unshown(earlier, found.into_iter());
    }

    fn take_unshown(&self) -> Vec<Unshown> {
        std::mem::take(
            &mut *self
                .queues
                .unshown
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// `POST /Tickets?returnall=true` with every ticket; each result matched by reference.
    fn create_batch(
        &self,
        items: Vec<NewTicket>,
        deadline: Deadline,
        priority: Priority,
    ) -> Pin<Box<dyn Future<Output = Vec<Made>> + Send + '_>> {
        Box::pin(async move {
            let body = Value::Array(items.iter().map(|i| i.ticket.clone()).collect());
            match self.post_array("Tickets", &body, priority, deadline).await {
                Ok(answer) => self.match_created(&items, &answer),
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
                Err(e) => items.iter().map(|_| Made::Failed(e.clone())).collect(),
            }
        })
    }

    /// Each request's ticket in Halo's answer, found by its reference.
    fn match_created(&self, items: &[NewTicket], answer: &Value) -> Vec<Made> {
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
        items
            .iter()
            .map(|i| match by_reference.get(&i.reference) {
                Some(created) => Made::Created(*created),
                None => Made::Unshown,
            })
            .collect()
    }
}

/// Answers the tickets left for a lookup with what it found (`None`: the lookup failed).
fn settle_unshown(earlier: Vec<Unshown>, found: impl Iterator<Item = Option<Lookup>>) {
    for (unshown, lookup) in earlier.into_iter().zip(found) {
        let _ = unshown.answer.send(created_by_listing(lookup));
    }
}

/// A ticket created by a call whose answer did not show it, as a listing found it (or not: its
/// outcome is then unknown, never "not created").
fn created_by_listing(lookup: Option<Lookup>) -> FindResult {
    match lookup {
        Some(Lookup::Found(id)) => Ok(FoundOrCreated::Created(Created {
            id,
            last_action: None,
        })),
        _ => Err(UpstreamError::unavailable_after_send(
            System::Halo,
            "the create answer does not show this ticket",
        )),
    }
}

/// A lookup's error as the error of a find-or-create that never reached its create.
fn nothing_sent(error: UpstreamError) -> UpstreamError {
    match error {
        UpstreamError::Unavailable {
            system,
            retry_after,
            reason,
            ..
        } => UpstreamError::Unavailable {
            system,
            retry_after,
            not_processed: true,
            reason,
        },
        other => other,
    }
}
