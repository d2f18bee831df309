//! Step 4: ContraForce comments and closes reach the Halo ticket (CONTRACT §10.2). For each
//! watched ticket whose close is not mirrored, least recently checked first: every new comment
//! that is not the bridge's own and not blank becomes one Halo note, oldest first; a closing
//! comment closes the ticket with `HALO_CLOSE_ON_CF_CLOSE=true`.

use super::{Run, Step};
use crate::contraforce::client::{ContraForceClient, IncidentAt};
use crate::error::ApiError;
use crate::settings::NoteMode;
use crate::state::work::{Watch, now_ms};
use crate::sync::close::close_ticket;
use crate::sync::halo_to_cf::{HaloToCf, parse_reference};
use crate::sync::mapping::{comment_note_html, is_bridge_comment};

impl Run<'_> {
    /// Copies new ContraForce comments to at most `RECONCILE_MAX_TICKETS` tickets.
    pub(super) async fn contraforce_comments(&mut self) -> Step {
        let reconcile = self.reconcile;
        let Some(cf) = &reconcile.cf else {
            return Step::Done;
        };
        // Taken out for the step, which also updates the run's summary.
        let Some(halo_to_cf) = self.halo_to_cf.take() else {
            return Step::Done;
        };
        let step = self.comments_of_watched(&halo_to_cf, cf).await;
        self.halo_to_cf = Some(halo_to_cf);
        step
    }

    async fn comments_of_watched(&mut self, halo_to_cf: &HaloToCf, cf: &ContraForceClient) -> Step {
        const STEP: &str = "contraforce comments";
        let max = self.reconcile.settings.max_tickets;
        let watches = match self.reconcile.work().watches().await {
            Ok(watches) => watches,
            Err(e) => return self.stopped(STEP, &e),
        };
        let mut checked = 0;
        for watch in watches {
            if checked >= max {
                break;
            }
            if self.out_of_time() {
                return self.stopped(STEP, &"the run's deadline");
            }
            match self.check_ticket(halo_to_cf, cf, watch.ticket_id).await {
                Ok(true) => checked += 1,
                Ok(false) => {}
                Err(e @ ApiError::Unavailable { .. }) => return self.stopped(STEP, &e),
                Err(e) => {
                    tracing::warn!(ticket_id = watch.ticket_id, error = %e, "contraforce comments not read");
                    checked += 1;
                }
            }
        }
        Step::Done
    }

    /// One watched ticket; false when it is not one to check (closed, unlinked, no workspace,
    /// or another delivery holds it right now).
    async fn check_ticket(
        &mut self,
        halo_to_cf: &HaloToCf,
        cf: &ContraForceClient,
        ticket_id: u64,
    ) -> Result<bool, ApiError> {
        let store = self.reconcile.store.as_ref();
        if store.ticket_sync(ticket_id).await?.close_mirrored {
            return Ok(false);
        }
        let Some(link) = store.link_for_ticket(ticket_id).await? else {
            return Ok(false);
        };
        let Some(incident) = parse_reference(&link.reference) else {
            return Ok(false);
        };
        let Some(workspace) = halo_to_cf
            .settings()
            .cf
            .workspace_for(link.account_id.as_deref())
        else {
            return Ok(false);
        };
        let at = IncidentAt {
            workspace,
            source: &incident.source,
            incident_id: &incident.incident_id,
        };
        // The ticket's claim, as HaloToCf takes it: a close recorded here is seen by the webhook.
        // A ticket a delivery is working on right now is left for the next run.
        let Some(claim) = store
            .try_claim(
                &format!("ticket:{ticket_id}"),
                self.reconcile.request_deadline,
            )
            .await?
        else {
            return Ok(false);
        };
        let result = self.copy_comments(halo_to_cf, cf, ticket_id, at).await;
        claim.release().await;
        result.map(|()| true)
    }

    /// The ticket's claim is held: copy what is new, recording each comment once it is done.
    async fn copy_comments(
        &mut self,
        halo_to_cf: &HaloToCf,
        cf: &ContraForceClient,
        ticket_id: u64,
        at: IncidentAt<'_>,
    ) -> Result<(), ApiError> {
        let deadline = self.item_deadline();
        let work = self.reconcile.work();
        let settings = &self.reconcile.settings;
        let comments = cf.list_comments(at, deadline).await?;
        let mut watch = work.watched(ticket_id).await?.unwrap_or(Watch {
            ticket_id,
            ..Watch::default()
        });
        for comment in comments {
            let ours = is_bridge_comment(&comment.text);
            if !watch.copied.contains(&comment.id) {
                let wanted = !ours && !comment.text.trim().is_empty();
                if wanted && settings.comments_to_halo != NoteMode::Off {
                    let html = comment_note_html(comment.author.as_deref(), &comment.text);
                    let private = settings.comments_to_halo == NoteMode::Private;
                    self.halo
                        .add_note(ticket_id, &html, &settings.note_outcome, private, deadline)
                        .await?;
                    self.summary.notes_to_halo += 1;
                    tracing::info!(ticket_id, comment_id = %comment.id, "contraforce comment copied to halo");
                }
                watch.copied.push(comment.id.clone());
                work.set_watch(&watch).await?;
            }
            if comment.closing && !ours && !watch.closes.contains(&comment.id) {
                if settings.close_on_cf_close
                    && let Some(status) = halo_to_cf.settings().closed_status_ids.first()
                    && close_ticket(
                        &self.halo,
                        self.reconcile.store.as_ref(),
                        ticket_id,
                        *status,
                        deadline,
                    )
                    .await?
                {
                    self.summary.closes_mirrored += 1;
                }
                watch.closes.push(comment.id.clone());
                work.set_watch(&watch).await?;
            }
        }
        watch.checked_at_ms = now_ms();
        work.set_watch(&watch).await?;
        Ok(())
    }
}
