//! An incident's one Halo ticket: the store's link, else Halo's verified lookup, else a new
//! ticket (CONTRACT §3.3). Lookup and creation run under the reference's claim, so any number of
//! deliveries of any event type for one incident, on any instance, make exactly one ticket.

use super::CfToHalo;
use crate::contraforce::webhook::Incident;
use crate::error::ApiError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::halo::batched::{BeforeCreate, FoundOrCreated, NewTicket};
use crate::halo::client::Created;
use crate::halo::lookup::{Lookup, window_start};
use crate::http::{Deadline, System, UpstreamError};
use crate::state::work::{Work, now_ms, severity_rank};
use crate::state::{StateError, StateStore};
use crate::sync::mapping;

/// Halo logs a new ticket as its action 1: the least a ticket we just created has. Actions Halo
/// added in the same moment (an automation's) are counted at the first listing, by their date.
const ACTIONS_AT_CREATION: u64 = 1;

/// How an incident's ticket was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// The store links it (Halo may have deleted it since: a 404 on it unlinks it).
    Linked(u64),
    /// Halo's lookup found it (and it is linked now).
    LookedUp(u64),
    /// Made now (and linked).
    Created(u64),
}

impl Found {
    /// The ticket.
    pub(super) fn id(self) -> u64 {
        match self {
            Found::Linked(id) | Found::LookedUp(id) | Found::Created(id) => id,
        }
    }
}

impl CfToHalo {
    /// The incident's ticket; `None` only when there is none and `create` is false.
    pub(super) async fn ticket_for(
        &self,
        incident: &Incident,
        create: bool,
        deadline: Deadline,
    ) -> Result<Option<Found>, ApiError> {
        let reference = incident.reference();
        if let Some(ticket_id) = self.store.ticket_for_reference(&reference).await? {
            return Ok(Some(Found::Linked(ticket_id)));
        }
        // Only finding and creating need the incident to itself: work on a linked ticket runs
        // side by side, so a delivery that waited here and finds a link lets go at once.
        let claim = self
            .store
            .claim(&format!("ref:{reference}"), deadline, self.claim_hold)
            .await?;
        let result = async {
            if let Some(ticket_id) = self.store.ticket_for_reference(&reference).await? {
                return Ok(Some(Found::Linked(ticket_id)));
            }
            self.lookup_or_create(incident, &reference, create, deadline)
                .await
        }
        .await;
        claim.release().await;
        result
    }

    /// Lookup then create; the caller holds the reference's claim.
    ///
    /// A create is not idempotent in Halo, and one whose outcome is unknown (a timeout, a dropped
    /// connection, a 5xx, a process killed during it) may still be completed by Halo later. So
    /// the reference is marked in doubt before every create, for `HALO_CREATE_GRACE_SECONDS`:
    /// until then a lookup that finds nothing answers 503 (Retry-After: the time left) instead of
    /// creating a second ticket; after it, one more lookup, then a create (CONTRACT §13).
    async fn lookup_or_create(
        &self,
        incident: &Incident,
        reference: &str,
        create: bool,
        deadline: Deadline,
    ) -> Result<Option<Found>, ApiError> {
        let now = (crate::clock::now_nanos() / 1_000_000_000) as i64;
        let since = window_start(incident.created_at.as_deref(), now);
        // When the budget is short, the most severe incident goes first; lookups and creates
        // that wait together leave together (CONTRACT §12).
        let priority = severity_rank(&incident.severity);
        let work = self.work();
        let in_doubt = if create {
            work.create_in_doubt(reference).await?
        } else {
            None
        };
        if !create || in_doubt.is_some() {
            // Our ledger had no answer: Halo may still have the ticket (a lost state, or a
            // create that failed after Halo made it), so look before anything else.
            let lookup = self
                .halo
                .lookup(reference, since, priority, deadline)
                .await?;
            if let Lookup::Found(ticket_id) = lookup {
                return self.found(reference, ticket_id, incident).await.map(Some);
            }
            let Some(until) = in_doubt else {
                return Ok(None);
            };
            let wait = until.saturating_sub(now_ms()).div_ceil(1000);
            tracing::warn!(
                wait_secs = wait,
                "an earlier create of this incident's ticket may still complete in halo: not creating another yet"
            );
            return Err(ApiError::unavailable_for(wait.max(1)));
        }
        let grace = self.settings.create_grace;
        let marks = CreateMarks::default();
        let new = NewTicket {
            ticket: mapping::ticket(incident, &self.settings.mapping),
            reference: reference.to_owned(),
            since,
            before_create: Some(marks.hook(self.store.clone(), reference, grace, deadline)),
        };
        let outcome = self.halo.find_or_create(new, priority, deadline).await;
        if let Some(e) = marks.store_error() {
            return Err(e.into());
        }
        let found = match outcome {
            Ok(FoundOrCreated::Found(ticket_id)) => {
                return self.found(reference, ticket_id, incident).await.map(Some);
            }
            Ok(FoundOrCreated::Created(created)) => {
                self.created(reference, created, incident).await?
            }
            // Halo had no ticket and no create was sent: nothing to wait for.
            Err(e) if !marks.sent() => return Err(e.into()),
            Err(e) => {
                let unknown = matches!(
                    e,
                    UpstreamError::Unavailable {
                        not_processed: false,
                        ..
                    }
                );
                if unknown && !grace.is_zero() {
                    tracing::warn!(error = %e, grace_secs = grace.as_secs(), "create outcome unknown: the incident waits out the grace before another lookup");
                    return Err(ApiError::unavailable_for(grace.as_secs()));
                }
                if !grace.is_zero() {
                    work.clear_create_doubt(reference).await?;
                }
                return Err(e.into());
            }
        };
        if !grace.is_zero() {
            work.clear_create_doubt(reference).await?;
        }
        Ok(Some(found))
    }

    /// Halo's lookup found the incident's ticket: it is linked.
    async fn found(
        &self,
        reference: &str,
        ticket_id: u64,
        incident: &Incident,
    ) -> Result<Found, ApiError> {
        tracing::info!(ticket_id, "found the incident's ticket in halo");
        let owner = self.link(reference, ticket_id, incident).await?;
        Ok(Found::LookedUp(owner))
    }

    /// The ticket made now is linked, its watermark set at its creation.
    async fn created(
        &self,
        reference: &str,
        created: Created,
        incident: &Incident,
    ) -> Result<Found, ApiError> {
        let ticket_id = created.id;
        tracing::info!(ticket_id, "created halo ticket");
        let owner = self.link(reference, ticket_id, incident).await?;
        if owner != ticket_id {
            tracing::error!(
                ticket_id,
                linked_ticket_id = owner,
                "a second halo ticket was created for an incident that has one: it is not linked"
            );
            return Ok(Found::LookedUp(owner));
        }
        raise_watermark(
            self.store.as_ref(),
            ticket_id,
            ACTIONS_AT_CREATION,
            created.last_action,
        )
        .await?;
        Ok(Found::Created(ticket_id))
    }

    /// Links the incident's ticket (with its account) and watches its ContraForce comments;
    /// the ticket the reference is linked to afterwards (the first linked keeps it).
    async fn link(
        &self,
        reference: &str,
        ticket_id: u64,
        incident: &Incident,
    ) -> Result<u64, ApiError> {
        let owner = self
            .store
            .link(reference, ticket_id, incident.account_id.as_deref())
            .await?;
        if owner == ticket_id {
            let account = incident.account_id.as_deref();
            self.work().watch(owner, reference, account).await?;
        }
        Ok(owner)
    }
}

/// What became of one create's bookkeeping in the batch that carries it: whether its doubt
/// marker was written and the create handed to Halo, or why not.
#[derive(Default, Clone)]
struct CreateMarks {
    sent: Arc<AtomicBool>,
    store_error: Arc<Mutex<Option<StateError>>>,
}

impl CreateMarks {
    /// The hook run just before the create is sent: too late for its delivery ⇒ not sent (the
    /// re-delivery looks again); else the reference is marked in doubt for `grace` first.
    fn hook(
        &self,
        store: Arc<dyn StateStore>,
        reference: &str,
        grace: Duration,
        deadline: Deadline,
    ) -> BeforeCreate {
        let (marks, reference) = (self.clone(), reference.to_owned());
        Arc::new(move || {
            let (marks, store, reference) = (marks.clone(), store.clone(), reference.clone());
            Box::pin(async move {
                if deadline.passed() {
                    return Err(UpstreamError::Unavailable {
                        system: System::Halo,
                        retry_after: None,
                        not_processed: true,
                        reason: "the delivery's deadline passed before its create was sent".into(),
                    });
                }
                if !grace.is_zero() {
                    let until = now_ms() + grace.as_millis() as u64;
                    let marked = Work::new(store.as_ref(), Duration::ZERO)
                        .doubt_create(&reference, until)
                        .await;
                    if let Err(e) = marked {
                        let reason = e.to_string();
                        *marks.store_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return Err(UpstreamError::Unavailable {
                            system: System::Halo,
                            retry_after: None,
                            not_processed: true,
                            reason,
                        });
                    }
                }
                marks.sent.store(true, Ordering::SeqCst);
                Ok(())
            })
        })
    }

    /// The create was handed to Halo (its outcome may be unknown).
    fn sent(&self) -> bool {
        self.sent.load(Ordering::SeqCst)
    }

    /// The doubt marker could not be written (the create was not sent).
    fn store_error(&self) -> Option<StateError> {
        self.store_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Raises a created ticket's watermark to at least `floor` (never lowers it: a webhook may have
/// moved it past already), and records when Halo dated its newest action at creation, so the
/// first listing of its actions counts every action of that moment as seen.
pub(super) async fn raise_watermark(
    store: &dyn StateStore,
    ticket_id: u64,
    floor: u64,
    created_at: Option<i64>,
) -> Result<(), ApiError> {
    let mut sync = store.ticket_sync(ticket_id).await?;
    // A delivery got there first: its listing already judged the ticket's actions.
    if sync.watermark >= floor {
        return Ok(());
    }
    sync.watermark = floor;
    sync.created_at = created_at;
    store.set_ticket_sync(ticket_id, sync).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::TicketSync;
    use crate::state::memory::MemoryStore;

    #[tokio::test]
    async fn the_watermark_of_a_created_ticket_is_never_lowered() {
        let store = MemoryStore::new(Duration::from_secs(60));
        raise_watermark(&store, 5, 1, Some(42)).await.unwrap();
        let sync = store.ticket_sync(5).await.unwrap();
        assert_eq!((sync.watermark, sync.created_at), (1, Some(42)));
        // A webhook moved it past already: the create's late bookkeeping leaves it alone.
        let moved = TicketSync {
            watermark: 7,
            ..TicketSync::default()
        };
        store.set_ticket_sync(6, moved).await.unwrap();
        raise_watermark(&store, 6, 1, Some(42)).await.unwrap();
        assert_eq!(store.ticket_sync(6).await.unwrap(), moved);
    }
}
