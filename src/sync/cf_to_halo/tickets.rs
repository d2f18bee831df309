//! An incident's one Halo ticket: the store's link, else Halo's verified lookup, else a new
//! ticket (CONTRACT §3.3). Lookup and creation run under the reference's claim, so any number of
//! deliveries of any event type for one incident, on any instance, make exactly one ticket.

use std::time::Duration;

use super::CfToHalo;
use crate::contraforce::webhook::Incident;
use crate::error::ApiError;
use crate::halo::lookup::{Lookup, window_start};
use crate::http::{Deadline, UpstreamError};
use crate::state::TicketSync;
use crate::state::work::severity_rank;
use crate::sync::mapping;

/// Halo logs a new ticket as its action 1, so that is the highest action a ticket we just
/// created can have; anything above it was written after us.
const ACTIONS_AT_CREATION: u64 = 1;
/// Longest pause before re-checking Halo after a create whose outcome is unknown.
const MAX_CREATE_BACKOFF: Duration = Duration::from_secs(2);

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
    async fn lookup_or_create(
        &self,
        incident: &Incident,
        reference: &str,
        create: bool,
        deadline: Deadline,
    ) -> Result<Option<Found>, ApiError> {
        let ticket = mapping::ticket(incident, &self.settings.mapping);
        let now = (crate::clock::now_nanos() / 1_000_000_000) as i64;
        let since = window_start(incident.created_at.as_deref(), now);
        let mut backoff = Duration::from_millis(200);
        loop {
            // The lookup and the create are reserved together, so a new incident never finds
            // the budget gone between its two calls; when the budget is short, the most severe
            // incident goes first.
            let priority = severity_rank(&incident.severity);
            let permit = self
                .halo
                .reserve(1 + u32::from(create), priority, deadline)
                .await?;
            // Our ledger had no answer: Halo may still have the ticket (a lost state, or a
            // create that failed after Halo made it), so look before creating.
            match self
                .halo
                .find_ticket(reference, since, Some(&permit), deadline)
                .await?
            {
                Lookup::Found(ticket_id) => {
                    tracing::info!(ticket_id, "found the incident's ticket in halo");
                    self.link(reference, ticket_id, incident).await?;
                    return Ok(Some(Found::LookedUp(ticket_id)));
                }
                Lookup::Absent => {}
                // A security incident never goes without a ticket for want of a complete search:
                // the pages read held no ticket for it, so it is most likely new (README, "Halo as
                // its published API defines it").
                Lookup::Unsure { pages } => tracing::warn!(
                    pages,
                    "no ticket for the incident in the pages read; creating one (raise HALO_LOOKUP_MAX_PAGES if this repeats)"
                ),
            }
            if !create {
                return Ok(None);
            }
            match self
                .halo
                .create_ticket(&ticket, Some(&permit), deadline)
                .await
            {
                Ok(ticket_id) => {
                    tracing::info!(ticket_id, "created halo ticket");
                    self.link(reference, ticket_id, incident).await?;
                    let sync = TicketSync {
                        watermark: ACTIONS_AT_CREATION,
                        close_mirrored: false,
                    };
                    self.store.set_ticket_sync(ticket_id, sync).await?;
                    return Ok(Some(Found::Created(ticket_id)));
                }
                // A timeout or 5xx may have created the ticket: look again before creating again.
                Err(
                    e @ UpstreamError::Unavailable {
                        not_processed: false,
                        ..
                    },
                ) if backoff < deadline.remaining() && backoff <= MAX_CREATE_BACKOFF => {
                    tracing::warn!(error = %e, "create outcome unknown; looking up before trying again");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Links the incident's ticket (with its account) and watches its ContraForce comments.
    async fn link(
        &self,
        reference: &str,
        ticket_id: u64,
        incident: &Incident,
    ) -> Result<(), ApiError> {
        self.store
            .link(reference, ticket_id, incident.account_id.as_deref())
            .await?;
        self.work().watch(ticket_id).await?;
        Ok(())
    }
}
