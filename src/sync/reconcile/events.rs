//! Step 1: parked ContraForce events, the due ones most severe first, then oldest (CONTRACT §9.2,
//! §13). A re-drive that fails defers that one event (back-off, behind the others); Halo's
//! rejection, or the attempt limit, moves it to the failed list.

use super::{Run, Step};
use crate::error::ApiError;
use crate::state::work::now_ms;

impl Run<'_> {
    /// Re-drives every parked event that is due.
    pub(super) async fn parked_events(&mut self) -> Step {
        const STEP: &str = "parked events";
        let Some(cf_to_halo) = &self.cf_to_halo else {
            return Step::Done;
        };
        let work = self.reconcile.work();
        let parked = match work.parked().await {
            Ok(parked) => parked,
            Err(e) => return self.stopped(STEP, &e),
        };
        let now = now_ms();
        for event in parked.into_iter().take_while(|e| e.tries.due(now)) {
            if self.out_of_time() {
                return self.stopped(STEP, &"the run's deadline");
            }
            let result = cf_to_halo.redrive(&event, self.item_deadline()).await;
            let event_id = event.event_id.clone();
            let recorded = match result {
                Ok(outcome) => {
                    tracing::info!(event_id, ?outcome, "parked event processed");
                    // A duplicate was finished meanwhile by a re-delivery: only forgotten here.
                    if outcome.done_ticket().is_some() {
                        self.summary.events_redriven += 1;
                    }
                    work.unpark(&event_id).await
                }
                Err(ApiError::HaloRejected(message))
                | Err(ApiError::Malformed {
                    detail: Some(message),
                }) => {
                    tracing::warn!(event_id, %message, "parked event rejected: moved to the failed list");
                    self.summary.events_failed += 1;
                    work.fail(event, &message).await
                }
                Err(e) => {
                    if let Some(stop) = self.stops(STEP, &e) {
                        return stop;
                    }
                    tracing::warn!(event_id, error = %e, "parked event deferred");
                    self.summary.items_deferred += 1;
                    match work.defer_event(event, &e.to_string()).await {
                        Ok(true) => {
                            self.summary.events_failed += 1;
                            Ok(())
                        }
                        Ok(false) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(e) = recorded {
                return self.stopped(STEP, &e);
            }
        }
        Step::Done
    }
}
