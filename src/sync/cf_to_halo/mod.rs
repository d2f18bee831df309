//! ContraForce → Halo (CONTRACT §3, §10.1): an incident becomes exactly one Halo ticket, and the
//! agent's verdict on it becomes one note (and an action) on that ticket. `tickets` finds or
//! makes an incident's ticket; `incident` and `investigation` are the two event types.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::contraforce::webhook::{self, Envelope, Mac};
use crate::error::ApiError;
use crate::halo::client::HaloClient;
use crate::http::Deadline;
use crate::settings::CfToHaloSettings;
use crate::state::StateStore;
use crate::state::work::{ParkedEvent, Work};

mod incident;
mod investigation;
mod tickets;

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CfOutcome {
    /// A test delivery of an incident: the ticket it would create, nothing sent.
    Test {
        /// The element of the create array.
        ticket: Value,
    },
    /// A test delivery of a verdict: the note and the action it would take, nothing sent.
    TestVerdict {
        /// `{"note_html", "action"}`.
        note: Value,
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
    /// An agent's verdict was noted on the ticket, and its action taken.
    Noted {
        /// The ticket.
        ticket_id: u64,
        /// `close` or `priority`, when `HALO_INVESTIGATION_ACTIONS` names one.
        action: Option<&'static str>,
    },
    /// Nothing to do, with the reason.
    Ignored(&'static str),
}

impl CfOutcome {
    /// The ticket an event that did its work is recorded with (`None` for a duplicate, a test
    /// or an ignored event).
    pub fn done_ticket(&self) -> Option<u64> {
        match self {
            Self::Created { ticket_id } | Self::Updated { ticket_id } => Some(*ticket_id),
            Self::Noted { ticket_id, .. } => Some(*ticket_id),
            _ => None,
        }
    }
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

    /// The function's settings.
    pub fn settings(&self) -> &CfToHaloSettings {
        &self.settings
    }

    /// The unfinished-work records (parked and failed events).
    pub fn work(&self) -> Work<'_> {
        Work::new(self.store.as_ref(), self.ledger_ttl)
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

    /// Handles one verified delivery of `event_id` (after [`CfToHalo::event_for`]);
    /// `header_test` is `X-CF-Test: true`.
    pub async fn handle(
        &self,
        event_id: &str,
        envelope: &Envelope,
        header_test: bool,
        deadline: Deadline,
    ) -> Result<CfOutcome, ApiError> {
        match envelope {
            Envelope::IncidentCreated { incident, is_test } => {
                self.handle_incident(event_id, incident, *is_test || header_test, deadline)
                    .await
            }
            Envelope::Investigation {
                investigation,
                is_test,
            } => {
                self.handle_investigation(
                    event_id,
                    investigation,
                    *is_test || header_test,
                    deadline,
                )
                .await
            }
            Envelope::Unhandled { .. } => Ok(CfOutcome::Ignored("unhandled schema")),
        }
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
        if let Envelope::Unhandled { event_type } = &envelope {
            return Err(ApiError::Malformed {
                detail: Some(format!(
                    "{event_type} is not an event type the bridge handles"
                )),
            });
        }
        self.handle(&event.event_id, &envelope, event.header_test, deadline)
            .await
    }

    /// After a delivery: a 503 parks the event for the next reconcile run, Halo's rejection (a
    /// 502) moves it to the failed list, an event that did its work forgets it (CONTRACT §9.2
    /// step 1). `parked` builds the record only when one is needed. A failure to record this is
    /// logged: the answer stands.
    pub async fn settle(
        &self,
        event_id: &str,
        result: &Result<CfOutcome, ApiError>,
        parked: impl FnOnce() -> ParkedEvent,
    ) {
        let recorded = match result {
            Err(ApiError::Unavailable { .. }) => self.work().park(parked()).await,
            Err(ApiError::HaloRejected(message)) => self.work().fail(parked(), message).await,
            Ok(outcome) if outcome.done_ticket().is_some() => self.work().unpark(event_id).await,
            _ => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::error!(event_id, error = %e, "could not record the event for the reconcile run");
        }
    }

    /// Runs `work` once per event id: a processed event is a duplicate with no Halo call, one
    /// delivery of an event works at a time (a concurrent re-delivery waits, then finds it
    /// processed), and an event that did its work is recorded with its ticket.
    async fn once<F, Fut>(
        &self,
        event_id: &str,
        deadline: Deadline,
        work: F,
    ) -> Result<CfOutcome, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CfOutcome, ApiError>>,
    {
        if let Some(ticket_id) = self.store.processed_event(event_id).await? {
            return Ok(CfOutcome::Duplicate { ticket_id });
        }
        let claim = self
            .store
            .claim(&format!("event:{event_id}"), deadline, self.claim_hold)
            .await?;
        let result = async {
            if let Some(ticket_id) = self.store.processed_event(event_id).await? {
                return Ok(CfOutcome::Duplicate { ticket_id });
            }
            let outcome = work().await?;
            if let Some(ticket_id) = outcome.done_ticket() {
                self.store.record_event(event_id, ticket_id).await?;
            }
            Ok(outcome)
        }
        .await;
        // Freed before the answer goes out, so a re-delivery right after never finds it held.
        claim.release().await;
        result
    }
}
