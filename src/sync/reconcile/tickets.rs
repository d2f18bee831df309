//! Steps 2 and 3: pending Halo tickets, then the sweep of tickets Halo updated since the last
//! complete sweep, each processed as a webhook delivery would be (CONTRACT §9.2, §13). A ticket
//! that fails is that ticket's problem: it is (or stays) pending with its own back-off, and the
//! run goes on.

use super::{Run, Step};
use crate::clock::utc_date_time;
use crate::error::ApiError;
use crate::halo::client::PAGE_SIZE;
use crate::halo::model::Ticket;
use crate::halo::webhook::Delivery;
use crate::state::work::{RunSummary, SweepProgress, now_ms};
use crate::sync::halo_to_cf::{HaloOutcome, HaloToCf, parse_reference};

/// A Halo list-filter date: UTC `YYYY-MM-DDTHH:MM:SS`.
fn halo_date(unix_secs: i64) -> String {
    utc_date_time(i128::from(unix_secs) * 1_000_000_000, 0)
}

fn delivery(ticket_id: u64) -> Delivery {
    Delivery {
        ticket_id: Some(ticket_id),
        ..Delivery::default()
    }
}

/// Adds what a processed ticket forwarded to the run's summary.
fn count(summary: &mut RunSummary, outcome: &HaloOutcome) {
    if let HaloOutcome::Processed { forwarded, closed } = outcome {
        summary.comments_forwarded += *forwarded as u64;
        summary.closes_mirrored += u64::from(*closed);
    }
}

impl Run<'_> {
    /// Processes each pending ticket that is due; its mark is cleared once done, unless a newer
    /// failure marked it again. A failure defers it (back-off); a refusal for good, or the
    /// attempt limit, moves it to the failed tickets.
    pub(super) async fn pending_tickets(&mut self) -> Step {
        const STEP: &str = "pending tickets";
        let Some(halo_to_cf) = &self.halo_to_cf else {
            return Step::Done;
        };
        let work = self.reconcile.work();
        let pending = match work.pending().await {
            Ok(pending) => pending,
            Err(e) => return self.stopped(STEP, &e),
        };
        let now = now_ms();
        for mark in pending.into_iter().take_while(|p| p.tries.due(now)) {
            if self.out_of_time() {
                return self.stopped(STEP, &"the run's deadline");
            }
            let ticket_id = mark.ticket_id;
            self.seen.push(ticket_id);
            let recorded = match halo_to_cf
                .handle(&delivery(ticket_id), self.item_deadline())
                .await
            {
                Ok(outcome) => {
                    count(&mut self.summary, &outcome);
                    work.clear_pending(&mark).await
                }
                Err(e @ ApiError::Unavailable { .. }) => {
                    if let Some(stop) = self.stops(STEP, &e) {
                        return stop;
                    }
                    tracing::warn!(ticket_id, error = %e, "pending ticket deferred");
                    self.summary.items_deferred += 1;
                    work.defer_pending(&mark, &e.to_string()).await.map(drop)
                }
                Err(e) => {
                    tracing::warn!(ticket_id, error = %e, "pending ticket refused for good");
                    work.give_up_ticket(&mark, &e.to_string()).await
                }
            };
            if let Err(e) = recorded {
                return self.stopped(STEP, &e);
            }
        }
        Step::Done
    }

    /// Whether a listed ticket is CF-linked: its reference parses, or the store links it.
    async fn linked(&self, halo_to_cf: &HaloToCf, ticket: &Ticket) -> Result<bool, ApiError> {
        let field = halo_to_cf.settings().external_ref_field_id;
        if ticket.reference(field).and_then(parse_reference).is_some() {
            return Ok(true);
        }
        Ok(self
            .reconcile
            .store
            .link_for_ticket(ticket.id)
            .await?
            .is_some())
    }

    /// Every CF-linked ticket Halo updated since the mark, page by page in id order; the mark
    /// moves to this run's start only after a complete sweep, and a stopped sweep resumes at its
    /// page. A ticket that fails is marked pending (step 2 retries it with its back-off).
    pub(super) async fn sweep(&mut self) -> Step {
        const STEP: &str = "sweep";
        let Some(halo_to_cf) = self.halo_to_cf.take() else {
            return Step::Done;
        };
        let step = self.sweep_with(&halo_to_cf).await;
        self.halo_to_cf = Some(halo_to_cf);
        if step == Step::Unfinished {
            tracing::info!(
                step = STEP,
                "sweep left unfinished; the next run resumes at its page"
            );
        }
        step
    }

    async fn sweep_with(&mut self, halo_to_cf: &HaloToCf) -> Step {
        const STEP: &str = "sweep";
        let started = (self.started_at_ms / 1000) as i64;
        let lookback = self.reconcile.settings.lookback.as_secs() as i64;
        let mark = self.status.sweep_mark.unwrap_or(started - lookback);
        // An unfinished sweep resumes with its own start, at its page.
        let mut progress = self.status.sweep.take().unwrap_or(SweepProgress {
            from: mark - self.reconcile.settings.sweep_overlap.as_secs() as i64,
            started,
            page: 1,
            done: Vec::new(),
        });
        progress.page = progress.page.max(1);
        let from_text = halo_date(progress.from);
        // A ticket given up on waits on the failed list for an operator's replay.
        let failed: Vec<u64> = match self.reconcile.work().failed_tickets().await {
            Ok(failed) => failed.iter().map(|t| t.ticket_id).collect(),
            Err(e) => {
                self.status.sweep = Some(progress);
                return self.stopped(STEP, &e);
            }
        };
        let mut last_count: Option<u64> = None;
        loop {
            if self.out_of_time() {
                self.status.sweep = Some(progress);
                return self.stopped(STEP, &"the run's deadline");
            }
            let page = self
                .halo
                .tickets_updated_since(&from_text, progress.page, self.item_deadline())
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    let e = ApiError::from(e);
                    self.status.sweep = Some(progress);
                    if let Some(stop) = self.stops(STEP, &e) {
                        return stop;
                    }
                    tracing::warn!(error = %e, "sweep listing failed; the next run resumes at this page");
                    return Step::Unfinished;
                }
            };
            // Fewer tickets than before (one deleted or merged): later ones moved up a place, so
            // the page before is read again before going on, and none is skipped.
            let shrank = matches!((last_count, page.record_count), (Some(before), Some(now)) if now < before);
            last_count = page.record_count;
            if shrank && progress.page > 1 {
                progress.page -= 1;
                continue;
            }
            for ticket in &page.tickets {
                if progress.done.contains(&ticket.id)
                    || self.seen.contains(&ticket.id)
                    || failed.contains(&ticket.id)
                {
                    continue;
                }
                if self.out_of_time() {
                    self.status.sweep = Some(progress);
                    return self.stopped(STEP, &"the run's deadline");
                }
                if let Some(stop) = self.sweep_ticket(halo_to_cf, ticket).await {
                    self.status.sweep = Some(progress);
                    return stop;
                }
                progress.done.push(ticket.id);
                self.seen.push(ticket.id);
            }
            if page.tickets.len() < PAGE_SIZE {
                break;
            }
            progress.page += 1;
        }
        self.status.sweep_mark = Some(progress.started);
        self.status.sweep = None;
        Step::Done
    }

    /// Whether the bridge processed the ticket at or after its last action already: it costs no
    /// call then (CONTRACT §12).
    async fn unchanged(&self, ticket: &Ticket) -> Result<bool, ApiError> {
        let Some(last) = ticket.last_action else {
            return Ok(false);
        };
        if !self.halo.call_savings() {
            return Ok(false);
        }
        let sync = self.reconcile.store.ticket_sync(ticket.id).await?;
        Ok(sync.seen_action.is_some_and(|seen| seen >= last))
    }

    /// One listed ticket; `Some` when the run must stop.
    async fn sweep_ticket(&mut self, halo_to_cf: &HaloToCf, ticket: &Ticket) -> Option<Step> {
        const STEP: &str = "sweep";
        let linked = match self.linked(halo_to_cf, ticket).await {
            Ok(true) => self.unchanged(ticket).await.map(|same| !same),
            other => other,
        };
        let result = match linked {
            Ok(false) => return None,
            Ok(true) => halo_to_cf.handle_listed(ticket, self.item_deadline()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => {
                self.summary.tickets_swept += 1;
                count(&mut self.summary, &outcome);
                None
            }
            Err(e) => {
                if let Some(stop) = self.stops(STEP, &e) {
                    return Some(stop);
                }
                tracing::warn!(ticket_id = ticket.id, error = %e, "swept ticket deferred: marked pending");
                self.summary.items_deferred += 1;
                match self.reconcile.work().mark_pending(ticket.id).await {
                    Ok(()) => None,
                    Err(e) => Some(self.stopped(STEP, &e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::halo_date;

    #[test]
    fn halo_dates_are_utc_to_the_second() {
        assert_eq!(halo_date(1_796_151_600), "2026-12-01T19:00:00");
        assert_eq!(halo_date(0), "1970-01-01T00:00:00");
    }
}
