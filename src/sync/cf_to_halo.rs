//! ContraForce incident → exactly one Halo ticket (CONTRACT §3.1 steps 6–9, §3.3, §3.5).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::contraforce::webhook::{self, Envelope, Incident, Mac};
use crate::error::ApiError;
use crate::halo::client::HaloClient;
use crate::http::{Deadline, UpstreamError};
use crate::settings::{CfToHaloSettings, TestEvents};
use crate::state::work::{ParkedEvent, Work};
use crate::state::{StateStore, TicketSync};
use crate::sync::mapping;

/// Halo logs a new ticket as its action 1, so that is the highest action a ticket we just
/// created can have; anything above it was written after us.
const ACTIONS_AT_CREATION: u64 = 1;
/// Longest pause before re-checking Halo after a create whose outcome is unknown.
const MAX_CREATE_BACKOFF: Duration = Duration::from_secs(2);

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CfOutcome {
    /// A test delivery: the ticket it would create, nothing sent.
    Test {
        /// The element of the create array.
        ticket: Value,
    },
    /// This event id was already processed.
    Duplicate {
        /// Its ticket.
        ticket_id: u64,
    },
    /// A new ticket.
    Created {
        /// Its id.
        ticket_id: u64,
    },
    /// The incident already had a ticket; a private note was added.
    Updated {
        /// Its id.
        ticket_id: u64,
    },
}

/// The CfToHalo function's work, independent of HTTP.
pub struct CfToHalo {
    settings: CfToHaloSettings,
    halo: Arc<HaloClient>,
    store: Arc<dyn StateStore>,
    claim_hold: Duration,
    ledger_ttl: Duration,
}

impl CfToHalo {
    /// Wires the function to its Halo client and state store.
    pub fn new(
        settings: CfToHaloSettings,
        halo: Arc<HaloClient>,
        store: Arc<dyn StateStore>,
        request_deadline: Duration,
        ledger_ttl: Duration,
    ) -> Self {
        Self {
            settings,
            halo,
            store,
            claim_hold: request_deadline,
            ledger_ttl,
        }
    }

    /// The unfinished-work records (parked and failed events).
    pub fn work(&self) -> Work<'_> {
        Work::new(self.store.as_ref(), self.ledger_ttl)
    }

    /// After a delivery or a re-drive: a 503 parks the event for the next reconcile run, Halo's
    /// rejection (a 502) moves it to the failed list, a ticket made or noted forgets it
    /// (CONTRACT §9.2 step 1). A failure to record this is logged: the answer stands.
    pub async fn settle(&self, event: ParkedEvent, result: &Result<CfOutcome, ApiError>) {
        let event_id = event.event_id.clone();
        let recorded = match result {
            Err(ApiError::Unavailable { .. }) => self.work().park(event).await,
            Err(ApiError::HaloRejected(message)) => self.work().fail(event, message).await,
            Ok(CfOutcome::Created { .. } | CfOutcome::Updated { .. }) => {
                self.work().unpark(&event_id).await
            }
            _ => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::error!(event_id, error = %e, "could not record the event for the reconcile run");
        }
    }

    /// The function's settings.
    pub fn settings(&self) -> &CfToHaloSettings {
        &self.settings
    }

    /// The event a delivery stands for: a MAC accepted before makes it a re-delivery of the
    /// event that first carried it, whatever its `X-CF-Event-Id` says (CONTRACT §8.2).
    pub async fn event_for(&self, event_id: &str, mac: Option<&Mac>) -> Result<String, ApiError> {
        let Some(mac) = mac else {
            return Ok(event_id.to_string());
        };
        let ttl = Duration::from_secs(self.settings.max_skew_seconds.saturating_mul(2));
        let first = self.store.remember_mac(&mac.hex(), event_id, ttl).await?;
        if first != event_id {
            tracing::info!(
                event_id,
                first_event_id = %first,
                "signature accepted before: a re-delivery of the event that first carried it"
            );
        }
        Ok(first)
    }

    /// Re-drives a parked event through the normal path (event ledger, claims, find-or-create).
    pub async fn redrive(
        &self,
        event: &ParkedEvent,
        deadline: Deadline,
    ) -> Result<CfOutcome, ApiError> {
        let envelope =
            webhook::parse(event.body.as_bytes(), event.schema.as_deref()).map_err(|e| {
                ApiError::Malformed {
                    detail: Some(e.to_string()),
                }
            })?;
        match envelope {
            Envelope::IncidentCreated { incident, is_test } => {
                self.handle(
                    &event.event_id,
                    &incident,
                    is_test || event.header_test,
                    deadline,
                )
                .await
            }
            Envelope::Unhandled { event_type } => Err(ApiError::Malformed {
                detail: Some(format!(
                    "{event_type} is not an event type the bridge handles"
                )),
            }),
        }
    }

    /// Handles one verified `incident.created.v1` delivery of `event_id` (after
    /// [`CfToHalo::event_for`]).
    pub async fn handle(
        &self,
        event_id: &str,
        incident: &Incident,
        is_test: bool,
        deadline: Deadline,
    ) -> Result<CfOutcome, ApiError> {
        if is_test && self.settings.test_events == TestEvents::Ack {
            return Ok(CfOutcome::Test {
                ticket: mapping::ticket(incident, &self.settings.mapping),
            });
        }
        if let Some(ticket_id) = self.store.processed_event(event_id).await? {
            return Ok(CfOutcome::Duplicate { ticket_id });
        }
        // One delivery of an event at a time, so a concurrent re-delivery waits and then
        // finds the event processed instead of adding a second note.
        let event_claim = self
            .store
            .claim(&format!("event:{event_id}"), deadline, self.claim_hold)
            .await?;
        let result = self.handle_claimed(event_id, incident, deadline).await;
        // Freed before the answer goes out, so a re-delivery right after never finds it held.
        event_claim.release().await;
        result
    }

    /// The event's work once its claim is held.
    async fn handle_claimed(
        &self,
        event_id: &str,
        incident: &Incident,
        deadline: Deadline,
    ) -> Result<CfOutcome, ApiError> {
        if let Some(ticket_id) = self.store.processed_event(event_id).await? {
            return Ok(CfOutcome::Duplicate { ticket_id });
        }
        let outcome = self.find_or_create(event_id, incident, deadline).await?;
        let ticket_id = match outcome {
            CfOutcome::Created { ticket_id } | CfOutcome::Updated { ticket_id } => ticket_id,
            CfOutcome::Duplicate { ticket_id } => ticket_id,
            CfOutcome::Test { .. } => unreachable!("tests return early"),
        };
        self.store.record_event(event_id, ticket_id).await?;
        Ok(outcome)
    }

    async fn find_or_create(
        &self,
        event_id: &str,
        incident: &Incident,
        deadline: Deadline,
    ) -> Result<CfOutcome, ApiError> {
        let reference = incident.reference();
        loop {
            if let Some(ticket_id) = self.store.ticket_for_reference(&reference).await?
                && let Some(outcome) = self
                    .note_linked(ticket_id, &reference, event_id, incident, deadline)
                    .await?
            {
                return Ok(outcome);
            }
            // Only the creation needs the incident to itself: notes on a linked ticket run
            // side by side, so a delivery that waited here and finds a link lets go first.
            let ref_claim = self
                .store
                .claim(&format!("ref:{reference}"), deadline, self.claim_hold)
                .await?;
            let linked = self.store.ticket_for_reference(&reference).await;
            if !matches!(linked, Ok(None)) {
                ref_claim.release().await;
                linked?;
                continue;
            }
            let outcome = self
                .create_claimed(event_id, incident, deadline, &reference)
                .await;
            ref_claim.release().await;
            return outcome;
        }
    }

    /// Lookup then create; the caller holds the reference's claim.
    async fn create_claimed(
        &self,
        event_id: &str,
        incident: &Incident,
        deadline: Deadline,
        reference: &str,
    ) -> Result<CfOutcome, ApiError> {
        let ticket = mapping::ticket(incident, &self.settings.mapping);
        let mut backoff = Duration::from_millis(200);
        loop {
            // The lookup and the create are reserved together, so a new incident never finds
            // the budget gone between its two calls.
            let permit = self.halo.reserve(2, deadline).await?;
            // Our ledger had no answer: Halo may still have the ticket (a lost state, or a
            // create that failed after Halo made it), so look before creating.
            if let Some(ticket_id) = self
                .halo
                .find_ticket(reference, Some(&permit), deadline)
                .await?
            {
                tracing::info!(event_id, ticket_id, "found the incident's ticket in halo");
                self.link(reference, ticket_id, incident).await?;
                self.add_note(ticket_id, event_id, incident, deadline)
                    .await?;
                return Ok(CfOutcome::Updated { ticket_id });
            }
            match self
                .halo
                .create_ticket(&ticket, Some(&permit), deadline)
                .await
            {
                Ok(ticket_id) => {
                    tracing::info!(event_id, ticket_id, "created halo ticket");
                    self.link(reference, ticket_id, incident).await?;
                    let sync = TicketSync {
                        watermark: ACTIONS_AT_CREATION,
                        close_mirrored: false,
                    };
                    self.store.set_ticket_sync(ticket_id, sync).await?;
                    return Ok(CfOutcome::Created { ticket_id });
                }
                // A timeout or 5xx may have created the ticket: look again before creating again.
                Err(
                    e @ UpstreamError::Unavailable {
                        not_processed: false,
                        ..
                    },
                ) if backoff < deadline.remaining() && backoff <= MAX_CREATE_BACKOFF => {
                    tracing::warn!(event_id, error = %e, "create outcome unknown; looking up before trying again");
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

    /// Notes a re-delivery on a linked ticket; `None` when Halo no longer has that ticket.
    async fn note_linked(
        &self,
        ticket_id: u64,
        reference: &str,
        event_id: &str,
        incident: &Incident,
        deadline: Deadline,
    ) -> Result<Option<CfOutcome>, ApiError> {
        match self.add_note(ticket_id, event_id, incident, deadline).await {
            Ok(()) => Ok(Some(CfOutcome::Updated { ticket_id })),
            Err(UpstreamError::NotFound { .. }) => {
                tracing::warn!(
                    event_id,
                    ticket_id,
                    "linked halo ticket is gone; handling the incident as new"
                );
                self.store.unlink(reference, ticket_id).await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn add_note(
        &self,
        ticket_id: u64,
        event_id: &str,
        incident: &Incident,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let note = mapping::redelivery_note_html(&incident.incident_id, event_id);
        self.halo
            .add_private_note(ticket_id, &note, &self.settings.note_outcome, deadline)
            .await
    }
}
