//! `agent.investigation.completed.v1` (CONTRACT §10.1): the agent's verdict becomes one note on
//! the incident's ticket (made first when there is none), then the action
//! `HALO_INVESTIGATION_ACTIONS` names for its classification: close or a priority. A close is
//! recorded as mirrored, so the webhook Halo then sends is never echoed back to ContraForce.

use serde_json::json;

use super::tickets::Found;
use super::{CfOutcome, CfToHalo};
use crate::contraforce::webhook::Investigation;
use crate::error::ApiError;
use crate::http::{Deadline, UpstreamError};
use crate::settings::{InvestigationAction, NoteMode, TestEvents};
use crate::sync::close::close_ticket;
use crate::sync::mapping;
use crate::sync::notes::halo_note_present;

/// Whether an earlier delivery of the event wrote its note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoteState {
    New,
    Written,
    /// A post whose outcome was unknown.
    InDoubt,
}

fn action_name(action: InvestigationAction) -> &'static str {
    match action {
        InvestigationAction::Close => "close",
        InvestigationAction::Priority(_) => "priority",
    }
}

impl CfToHalo {
    /// Handles one verified `agent.investigation.completed.v1` delivery of `event_id`.
    pub(super) async fn handle_investigation(
        &self,
        event_id: &str,
        verdict: &Investigation,
        is_test: bool,
        deadline: Deadline,
    ) -> Result<CfOutcome, ApiError> {
        let settings = &self.settings.investigation;
        let note_html = mapping::investigation_note_html(
            verdict.classification.as_deref(),
            verdict.classification_reason.as_deref(),
            verdict.malicious_score.as_deref(),
            verdict.comment.as_deref(),
        );
        let action = verdict
            .classification
            .as_deref()
            .and_then(|c| settings.action_for(c));
        if is_test && self.settings.test_events == TestEvents::Ack {
            let note = (settings.note != NoteMode::Off).then_some(&note_html);
            return Ok(CfOutcome::TestVerdict {
                note: json!({ "note_html": note, "action": action.map(action_name) }),
            });
        }
        let incident = verdict.incident();
        self.once(event_id, deadline, || async {
            loop {
                let Some(found) = self
                    .ticket_for(&incident, settings.creates, deadline)
                    .await?
                else {
                    return Ok(CfOutcome::Ignored("no ticket for incident"));
                };
                let ticket_id = found.id();
                let progress = self.work().progress(event_id).await?;
                let already = progress.as_ref().map(|p| {
                    (
                        p["ticketId"].as_u64(),
                        p["noted"].as_bool(),
                        p["doubt"].as_bool(),
                    )
                });
                let state = match already {
                    Some((Some(t), Some(true), _)) if t == ticket_id => NoteState::Written,
                    Some((Some(t), _, Some(true))) if t == ticket_id => NoteState::InDoubt,
                    _ => NoteState::New,
                };
                match self
                    .note_once(event_id, ticket_id, &note_html, state, deadline)
                    .await
                {
                    Ok(()) => {}
                    Err(UpstreamError::NotFound { .. }) if found == Found::Linked(ticket_id) => {
                        tracing::warn!(
                            event_id,
                            ticket_id,
                            "linked halo ticket is gone; finding the incident's ticket again"
                        );
                        self.store.unlink(&verdict.reference(), ticket_id).await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
                if let Some(action) = action {
                    self.take_action(ticket_id, action, deadline).await?;
                }
                tracing::info!(
                    event_id,
                    ticket_id,
                    action = action.map(action_name),
                    "agent verdict noted"
                );
                return Ok(CfOutcome::Noted {
                    ticket_id,
                    action: action.map(action_name),
                });
            }
        })
        .await
    }

    /// The verdict's note, unless `HALO_INVESTIGATION_NOTE=off` or an earlier delivery of this
    /// event wrote it already (its action may have failed after), or may have (then the ticket's
    /// actions are read first, CONTRACT §13).
    async fn note_once(
        &self,
        event_id: &str,
        ticket_id: u64,
        note_html: &str,
        state: NoteState,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let mode = self.settings.investigation.note;
        if mode == NoteMode::Off || state == NoteState::Written {
            return Ok(());
        }
        let written = json!({ "ticketId": ticket_id, "noted": true });
        let present = state == NoteState::InDoubt
            && halo_note_present(&self.halo, ticket_id, note_html, deadline).await?;
        if !present {
            // Marked in doubt before the post: a process killed during it leaves the mark.
            let doubt = json!({ "ticketId": ticket_id, "doubt": true });
            if state != NoteState::InDoubt
                && let Err(e) = self.work().set_progress(event_id, &doubt).await
            {
                return Err(UpstreamError::unavailable(
                    crate::http::System::Halo,
                    format!("note doubt not recorded: {e}"),
                ));
            }
            self.halo
                .add_note(
                    ticket_id,
                    note_html,
                    &self.settings.note_outcome,
                    mode == NoteMode::Private,
                    deadline,
                )
                .await?;
        }
        if let Err(e) = self.work().set_progress(event_id, &written).await {
            // Only a re-delivery after a failed action would note twice.
            tracing::warn!(event_id, error = %e, "note progress not recorded");
        }
        Ok(())
    }

    /// The action, under the ticket's claim as HaloToCf takes it: the webhook Halo sends about
    /// the change waits, then finds a close already recorded as mirrored.
    async fn take_action(
        &self,
        ticket_id: u64,
        action: InvestigationAction,
        deadline: Deadline,
    ) -> Result<(), ApiError> {
        let claim = self
            .store
            .claim(&format!("ticket:{ticket_id}"), deadline, self.claim_hold)
            .await?;
        let result = match action {
            InvestigationAction::Close => {
                let status = self
                    .settings
                    .investigation
                    .closed_status_id
                    .expect("settings refuse close without HALO_CLOSED_STATUS_ID");
                close_ticket(&self.halo, self.store.as_ref(), ticket_id, status, deadline)
                    .await
                    .map(drop)
            }
            InvestigationAction::Priority(priority) => self
                .halo
                .update_ticket(ticket_id, json!({ "priority_id": priority }), deadline)
                .await
                .map_err(ApiError::from),
        };
        claim.release().await;
        result
    }
}
