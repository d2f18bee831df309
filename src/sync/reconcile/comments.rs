//! Step 4: ContraForce comments and closes reach the Halo ticket (CONTRACT §10.2, §13). For each
//! watched ticket that is due (at most `RECONCILE_MAX_TICKETS`, the longest due first): every new
//! comment that is not the bridge's own and not blank becomes one Halo note, oldest first; a
//! closing comment closes the ticket with `HALO_CLOSE_ON_CF_CLOSE=true`. A check that fails backs
//! off that one ticket; a ticket closed on both sides gets one last look (so a comment made just
//! before the close is not lost) and is then left alone until it is dropped or re-opened.

use super::{Run, Step};
use crate::contraforce::client::{ContraForceClient, IncidentAt};
use crate::error::ApiError;
use crate::settings::NoteMode;
use crate::state::Link;
use crate::state::work::{Watch, WatchPlan};
use crate::sync::close::close_ticket;
use crate::sync::halo_to_cf::{HaloToCf, parse_reference};
use crate::sync::mapping::{comment_note_html, is_bridge_comment};
use crate::sync::notes::{ambiguous, halo_note_present};

/// What checking one watched ticket came to.
enum Check {
    /// Scheduled by this plan.
    Plan(Box<Watch>, WatchPlan),
    /// Another delivery holds the ticket right now: left due for the next run.
    Busy,
}

impl Run<'_> {
    /// Copies new ContraForce comments to the due watched tickets.
    pub(super) async fn contraforce_comments(&mut self) -> Step {
        let reconcile = self.reconcile;
        let Some(cf) = &reconcile.cf else {
            return Step::Done;
        };
        // Taken out for the step, which also updates the run's summary.
        let Some(halo_to_cf) = self.halo_to_cf.take() else {
            return Step::Done;
        };
        let step = self.comments_of_due(&halo_to_cf, cf).await;
        self.halo_to_cf = Some(halo_to_cf);
        step
    }

    async fn comments_of_due(&mut self, halo_to_cf: &HaloToCf, cf: &ContraForceClient) -> Step {
        const STEP: &str = "contraforce comments";
        let work = self.reconcile.work();
        if !self.status.watches_indexed {
            match work.index_legacy_watches().await {
                Ok(n) => {
                    tracing::info!(watches = n, "watched tickets indexed by when they are due");
                    self.status.watches_indexed = true;
                }
                Err(e) => return self.stopped(STEP, &e),
            }
        }
        let due = match work.due_watches(self.reconcile.settings.max_tickets).await {
            Ok(due) => due,
            Err(e) => return self.stopped(STEP, &e),
        };
        for watch in due {
            if self.out_of_time() {
                return self.stopped(STEP, &"the run's deadline");
            }
            let ticket_id = watch.ticket_id;
            let (watch, plan) = match self.check_ticket(halo_to_cf, cf, watch).await {
                Ok(Check::Plan(watch, plan)) => (*watch, plan),
                Ok(Check::Busy) => continue,
                Err((watch, e)) => {
                    if let Some(stop) = self.stops(STEP, &e) {
                        return stop;
                    }
                    tracing::warn!(ticket_id, error = %e, "contraforce comments not copied; this ticket backs off");
                    self.summary.items_deferred += 1;
                    (watch, WatchPlan::Failed(e.to_string()))
                }
            };
            if let Err(e) = work.reschedule(&watch, plan).await {
                return self.stopped(STEP, &e);
            }
        }
        Step::Done
    }

    /// One watched ticket: what to schedule next, with the watch as the check left it.
    async fn check_ticket(
        &mut self,
        halo_to_cf: &HaloToCf,
        cf: &ContraForceClient,
        watch: Watch,
    ) -> Result<Check, (Watch, ApiError)> {
        let ticket_id = watch.ticket_id;
        let store = self.reconcile.store.as_ref();
        let keep = self.reconcile.settings.watch_days;
        let sync = match store.ticket_sync(ticket_id).await {
            Ok(sync) => sync,
            Err(e) => return Err((watch, e.into())),
        };
        // Closed on both sides: after one last look (a comment made just before the close is
        // still copied), the ticket is left alone until it is dropped or re-opened.
        if sync.close_mirrored && watch.closed_at_ms != 0 {
            return Ok(Check::Plan(Box::new(watch), WatchPlan::Closed(keep)));
        }
        let closing = sync.close_mirrored;
        // The watch knows its incident; only a watch from before that reads the link.
        let link = match &watch.reference {
            Some(reference) => Some(Link {
                reference: reference.clone(),
                account_id: watch.account_id.clone(),
            }),
            None => match store.link_for_ticket(ticket_id).await {
                Ok(link) => link,
                Err(e) => return Err((watch, e.into())),
            },
        };
        let incident = link
            .as_ref()
            .and_then(|l| Some((parse_reference(&l.reference)?, l.account_id.as_deref())));
        // No longer linked (the ticket is gone from Halo): dropped once idle like a closed one.
        let Some((incident, account)) = incident else {
            return Ok(Check::Plan(Box::new(watch), WatchPlan::Closed(keep)));
        };
        let Some(workspace) = halo_to_cf.settings().cf.workspace_for(account) else {
            return Ok(Check::Plan(
                Box::new(watch),
                WatchPlan::Checked { activity: false },
            ));
        };
        let at = IncidentAt {
            workspace,
            source: &incident.source,
            incident_id: &incident.incident_id,
        };
        // The ticket's claim, as HaloToCf takes it: a close recorded here is seen by the webhook.
        // Held for a delivery's whole time plus a margin, and renewed while held.
        let hold = self.reconcile.request_deadline + super::CLAIM_MARGIN;
        let claim = match store.try_claim(&format!("ticket:{ticket_id}"), hold).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return Ok(Check::Busy),
            Err(e) => return Err((watch, e.into())),
        };
        let result = self.copy_comments(halo_to_cf, cf, watch, at).await;
        claim.release().await;
        result.map(|(watch, activity)| {
            let plan = if closing {
                WatchPlan::Closed(keep)
            } else {
                WatchPlan::Checked { activity }
            };
            Check::Plan(Box::new(watch), plan)
        })
    }

    /// The ticket's claim is held: copy what is new, recording each comment once it is done.
    /// The watch as left, and whether anything new was found.
    async fn copy_comments(
        &mut self,
        halo_to_cf: &HaloToCf,
        cf: &ContraForceClient,
        watch: Watch,
        at: IncidentAt<'_>,
    ) -> Result<(Watch, bool), (Watch, ApiError)> {
        let deadline = self.item_deadline();
        let work = self.reconcile.work();
        let settings = &self.reconcile.settings;
        let comments = match cf.list_comments(at, deadline).await {
            Ok(comments) => comments,
            Err(e) => return Err((watch, e.into())),
        };
        let mut watch = watch;
        let mut activity = false;
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Err((watch, e.into())),
                }
            };
        }
        for comment in comments {
            let ours = is_bridge_comment(&comment.text);
            if !watch.copied.contains(&comment.id) {
                let wanted = !ours && !comment.text.trim().is_empty();
                if wanted && settings.comments_to_halo != NoteMode::Off {
                    let html = comment_note_html(comment.author.as_deref(), &comment.text);
                    let private = settings.comments_to_halo == NoteMode::Private;
                    let ticket_id = watch.ticket_id;
                    let in_doubt = watch.doubt.as_deref() == Some(comment.id.as_str());
                    let present = in_doubt
                        && attempt!(
                            halo_note_present(&self.halo, ticket_id, &html, deadline).await
                        );
                    if !present {
                        // Marked in doubt before the post: a process killed during it leaves
                        // the mark, and the next check lists the ticket's notes first.
                        if !in_doubt {
                            watch.doubt = Some(comment.id.clone());
                            attempt!(work.set_watch(&watch).await);
                        }
                        let posted = self
                            .halo
                            .add_note(ticket_id, &html, &settings.note_outcome, private, deadline)
                            .await;
                        if let Err(e) = posted {
                            if !ambiguous(&e) {
                                watch.doubt = None;
                                attempt!(work.set_watch(&watch).await);
                            }
                            return Err((watch, e.into()));
                        }
                        self.summary.notes_to_halo += 1;
                        tracing::info!(ticket_id, comment_id = %comment.id, "contraforce comment copied to halo");
                    }
                    activity = true;
                }
                watch.copied.push(comment.id.clone());
                watch.doubt = None;
                attempt!(work.set_watch(&watch).await);
            }
            if comment.closing && !ours && !watch.closes.contains(&comment.id) {
                if settings.close_on_cf_close
                    && let Some(status) = halo_to_cf.settings().closed_status_ids.first()
                    && attempt!(
                        close_ticket(
                            &self.halo,
                            self.reconcile.store.as_ref(),
                            watch.ticket_id,
                            *status,
                            deadline,
                        )
                        .await
                    )
                {
                    self.summary.closes_mirrored += 1;
                }
                activity = true;
                watch.closes.push(comment.id.clone());
                attempt!(work.set_watch(&watch).await);
            }
        }
        Ok((watch, activity))
    }
}
