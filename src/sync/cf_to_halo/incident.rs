//! `incident.created.v1`: a new ticket, or a private note on the incident's ticket
//! (CONTRACT §3.1 steps 6–9, §3.5).

use super::tickets::Found;
use super::{CfOutcome, CfToHalo};
use crate::contraforce::webhook::Incident;
use crate::error::ApiError;
use crate::http::Deadline;
use crate::settings::TestEvents;
use crate::sync::mapping;
use crate::sync::notes::halo_note_present;
use serde_json::json;

impl CfToHalo {
    /// Handles one verified `incident.created.v1` delivery of `event_id`.
    pub(super) async fn handle_incident(
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
        self.once(event_id, deadline, || async {
            loop {
                let found = self.ticket_for(incident, true, deadline).await?;
                let ticket_id = match found {
                    Some(Found::Created(ticket_id)) => return Ok(CfOutcome::Created { ticket_id }),
                    Some(found) => found.id(),
                    None => unreachable!("ticket_for makes a ticket when asked to"),
                };
                match self.add_note(ticket_id, event_id, incident, deadline).await {
                    Ok(()) => return Ok(CfOutcome::Updated { ticket_id }),
                    Err(ApiError::HaloRejected(message))
                        if message == "not found" && found == Some(Found::Linked(ticket_id)) =>
                    {
                        tracing::warn!(
                            event_id,
                            ticket_id,
                            "linked halo ticket is gone; handling the incident as new"
                        );
                        self.store.unlink(&incident.reference(), ticket_id).await?;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
        .await
    }

    /// The re-delivery note, once: the post is marked in doubt before it is made (a process
    /// killed during it leaves the mark), and an attempt that finds the mark posts only when the
    /// ticket does not have the note yet (CONTRACT §13).
    async fn add_note(
        &self,
        ticket_id: u64,
        event_id: &str,
        incident: &Incident,
        deadline: Deadline,
    ) -> Result<(), ApiError> {
        let note = mapping::redelivery_note_html(&incident.incident_id, event_id);
        let doubt = json!({ "ticketId": ticket_id, "doubt": true });
        let work = self.work();
        if work.progress(event_id).await? == Some(doubt.clone())
            && halo_note_present(&self.halo, ticket_id, &note, deadline).await?
        {
            return Ok(());
        }
        work.set_progress(event_id, &doubt).await?;
        self.halo
            .add_private_note(ticket_id, &note, &self.settings.note_outcome, deadline)
            .await?;
        Ok(())
    }
}
