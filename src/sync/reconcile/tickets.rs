//! Steps 2 and 3: pending Halo tickets, then the sweep of tickets Halo updated since the last
//! complete sweep, each processed as a webhook delivery would be (CONTRACT §9.2).

use super::{Run, Step};
use crate::clock::utc_date_time;
use crate::error::ApiError;
use crate::halo::client::PAGE_SIZE;
use crate::halo::webhook::Delivery;
use crate::state::work::{RunSummary, SweepProgress};
use crate::sync::halo_to_cf::{HaloOutcome, HaloToCf, parse_reference};

/// The sweep looks this far before its mark, for clock skew between us and Halo.
const SWEEP_OVERLAP_SECS: i64 = 120;

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
    /// Processes each ticket a delivery left pending; its mark is cleared once done (or once
    /// ContraForce has refused it for good), unless a newer failure marked it again.
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
        for mark in pending {
            if self.out_of_time() {
                return self.stopped(STEP, &"the run's deadline");
            }
            let ticket_id = mark.ticket_id;
            self.seen.push(ticket_id);
            match halo_to_cf
                .handle(&delivery(ticket_id), self.item_deadline())
                .await
            {
                Ok(outcome) => count(&mut self.summary, &outcome),
                // Marked again by the failure: the next run tries again.
                Err(e @ ApiError::Unavailable { .. }) => return self.stopped(STEP, &e),
                Err(e) => {
                    tracing::warn!(ticket_id, error = %e, "pending ticket refused; not retried")
                }
            }
            if let Err(e) = work.clear_pending(&mark).await {
                return self.stopped(STEP, &e);
            }
        }
        Step::Done
    }

    /// Whether a listed ticket is CF-linked: its reference parses, or the store links it.
    async fn linked(
        &self,
        halo_to_cf: &HaloToCf,
        ticket: &crate::halo::model::Ticket,
    ) -> Result<bool, ApiError> {
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

    /// Every CF-linked ticket Halo updated since the mark, page by page; the mark moves to this
    /// run's start only after a complete sweep, and a stopped sweep resumes where it stopped.
    pub(super) async fn sweep(&mut self) -> Step {
        const STEP: &str = "sweep";
        let Some(halo_to_cf) = &self.halo_to_cf else {
            return Step::Done;
        };
        let started = (self.started_at_ms / 1000) as i64;
        let lookback = self.reconcile.settings.lookback.as_secs() as i64;
        let mark = self.status.sweep_mark.unwrap_or(started - lookback);
        // An unfinished sweep resumes with its own start and the tickets it has done.
        let mut progress = self.status.sweep.take().unwrap_or(SweepProgress {
            from: mark - SWEEP_OVERLAP_SECS,
            started,
            done: Vec::new(),
        });
        let from_text = halo_date(progress.from);
        let mut page_no = 1;
        loop {
            if self.out_of_time() {
                self.status.sweep = Some(progress);
                return self.stopped(STEP, &"the run's deadline");
            }
            let page = self
                .halo
                .tickets_updated_since(&from_text, page_no, self.item_deadline())
                .await;
            let tickets = match page {
                Ok(tickets) => tickets,
                Err(e) => {
                    self.status.sweep = Some(progress);
                    return self.stopped(STEP, &e);
                }
            };
            for ticket in &tickets {
                if progress.done.contains(&ticket.id) || self.seen.contains(&ticket.id) {
                    continue;
                }
                if self.out_of_time() {
                    self.status.sweep = Some(progress);
                    return self.stopped(STEP, &"the run's deadline");
                }
                let result = match self.linked(halo_to_cf, ticket).await {
                    Ok(false) => Ok(None),
                    Ok(true) => halo_to_cf
                        .handle(&delivery(ticket.id), self.item_deadline())
                        .await
                        .map(Some),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(None) => {}
                    Ok(Some(outcome)) => {
                        self.summary.tickets_swept += 1;
                        count(&mut self.summary, &outcome);
                    }
                    Err(e @ ApiError::Unavailable { .. }) => {
                        self.status.sweep = Some(progress);
                        return self.stopped(STEP, &e);
                    }
                    Err(e) => {
                        tracing::warn!(ticket_id = ticket.id, error = %e, "swept ticket refused");
                    }
                }
                progress.done.push(ticket.id);
                self.seen.push(ticket.id);
            }
            if tickets.len() < PAGE_SIZE {
                break;
            }
            page_no += 1;
        }
        self.status.sweep_mark = Some(progress.started);
        self.status.sweep = None;
        Step::Done
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
