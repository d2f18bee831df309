//! The `Reconcile` timer function (CONTRACT §9, §13): finishes whatever a webhook could not, so
//! nothing depends on the sender trying again. One run, in this order: parked ContraForce events
//! (`events`), pending Halo tickets and the sweep of recently updated ones (`tickets`), then
//! ContraForce comments and closes for the watched tickets that are due (`comments`). A run is
//! another caller of the per-delivery code (claims, ledgers, watermarks), never a second
//! implementation, so a webhook and a run racing on one ticket or incident cannot both do the
//! same work.
//!
//! One item's failure is that item's: it is recorded on the item (attempts, last error, next
//! attempt with back-off), the item moves behind the others, and the run goes on. Only the store
//! being unreachable, the run's deadline or its spent budget share stop a run.

use std::sync::Arc;
use std::time::Duration;

use crate::contraforce::client::ContraForceClient;
use crate::error::ApiError;
use crate::halo::client::HaloClient;
use crate::http::Deadline;
use crate::http::budget::Budget;
use crate::settings::{CfToHaloSettings, HaloToCfSettings, RateLimit, ReconcileSettings};
use crate::state::StateStore;
use crate::state::work::{LastRun, RunStatus, RunSummary, Work, now_ms};
use crate::sync::cf_to_halo::CfToHalo;
use crate::sync::halo_to_cf::HaloToCf;

mod comments;
mod events;
mod tickets;

/// The claim that keeps two runs from overlapping (the host runs timers as singletons, but the
/// `reconcile` command and a second host may not).
const CLAIM: &str = "reconcile";
/// The claim outlives the run's deadline by this much, so a slow release never lets two overlap.
pub(super) const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// Whether a step finished everything it had, left some of it for the next run and let the run
/// go on, or stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Done,
    Unfinished,
    Stopped,
}

/// The Reconcile function, independent of HTTP.
pub struct Reconcile {
    settings: ReconcileSettings,
    cf_to_halo: Option<CfToHaloSettings>,
    halo_to_cf: Option<HaloToCfSettings>,
    halo: Arc<HaloClient>,
    cf: Option<Arc<ContraForceClient>>,
    store: Arc<dyn StateStore>,
    /// Runs' share of the Halo budget, shared by every run of the process.
    lane: Arc<Budget>,
    request_deadline: Duration,
    ledger_ttl: Duration,
}

/// What one run needs besides the settings: everything on this run's lane of the Halo budget.
struct Run<'a> {
    reconcile: &'a Reconcile,
    deadline: Deadline,
    halo: HaloClient,
    cf_to_halo: Option<CfToHalo>,
    halo_to_cf: Option<HaloToCf>,
    status: RunStatus,
    summary: RunSummary,
    /// Tickets this run already looked at (a pending one is not swept again).
    seen: Vec<u64>,
    started_at_ms: u64,
}

/// Wiring for [`Reconcile::new`].
pub struct Wiring {
    /// The process's Halo client (a run uses a copy on its lane).
    pub halo: Arc<HaloClient>,
    /// The ContraForce client, when HaloToCf is configured.
    pub cf: Option<Arc<ContraForceClient>>,
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// `HALO_RATE_LIMIT`, of which runs take `RECONCILE_BUDGET_SHARE`.
    pub rate_limit: RateLimit,
    /// One delivery's deadline: each item of a run gets at most this.
    pub request_deadline: Duration,
    /// `LEDGER_TTL_DAYS`.
    pub ledger_ttl: Duration,
}

impl Reconcile {
    /// A Reconcile function for whatever of CfToHalo and HaloToCf is configured.
    pub fn new(
        settings: ReconcileSettings,
        cf_to_halo: Option<CfToHaloSettings>,
        halo_to_cf: Option<HaloToCfSettings>,
        wiring: Wiring,
    ) -> Self {
        let share = (f64::from(wiring.rate_limit.calls) * settings.budget_share).floor();
        let lane = Budget::new(RateLimit {
            calls: (share as u32).max(1),
            per: wiring.rate_limit.per,
        });
        Self {
            settings,
            cf_to_halo,
            halo_to_cf,
            halo: wiring.halo,
            cf: wiring.cf,
            store: wiring.store,
            lane: Arc::new(lane),
            request_deadline: wiring.request_deadline,
            ledger_ttl: wiring.ledger_ttl,
        }
    }

    /// The function's settings.
    pub fn settings(&self) -> &ReconcileSettings {
        &self.settings
    }

    fn work(&self) -> Work<'_> {
        Work::new(self.store.as_ref(), self.ledger_ttl).with_retry_base(self.settings.retry_base)
    }

    /// One run. Answers at once with `complete: false` when another run holds the claim.
    pub async fn run(&self) -> Result<RunSummary, ApiError> {
        let deadline = Deadline::after(self.settings.deadline);
        let Some(claim) = self
            .store
            .try_claim(CLAIM, self.settings.deadline + CLAIM_MARGIN)
            .await?
        else {
            tracing::info!("another reconcile run holds the claim: nothing to do");
            return Ok(RunSummary::default());
        };
        let result = self.run_claimed(deadline).await;
        claim.release().await;
        result
    }

    async fn run_claimed(&self, deadline: Deadline) -> Result<RunSummary, ApiError> {
        let halo = self.halo.on_lane(self.lane.clone());
        let shared = Arc::new(halo.clone());
        let mut run = Run {
            reconcile: self,
            deadline,
            cf_to_halo: self.cf_to_halo.clone().map(|s| {
                CfToHalo::new(
                    s,
                    shared.clone(),
                    self.store.clone(),
                    self.request_deadline,
                    self.ledger_ttl,
                )
            }),
            halo_to_cf: match (&self.halo_to_cf, &self.cf) {
                (Some(s), Some(cf)) => Some(HaloToCf::new(
                    s.clone(),
                    shared.clone(),
                    cf.clone(),
                    self.store.clone(),
                    self.request_deadline,
                    self.ledger_ttl,
                )),
                _ => None,
            },
            halo,
            status: self.work().status().await?,
            summary: RunSummary::default(),
            seen: Vec::new(),
            started_at_ms: now_ms(),
        };
        let complete = run.steps().await;
        run.summary.complete = complete;
        run.summary.halo_calls = run.halo.calls_sent();
        run.status.last_run = Some(LastRun {
            started_at_ms: run.started_at_ms,
            elapsed_ms: now_ms().saturating_sub(run.started_at_ms),
            summary: run.summary,
        });
        self.work().set_status(&run.status).await?;
        Ok(run.summary)
    }
}

impl Run<'_> {
    /// Every step in order; a step that stops ends the run (the rest waits for the next).
    async fn steps(&mut self) -> bool {
        let steps: [fn(&mut Self) -> futures_util::future::BoxFuture<'_, Step>; 4] = [
            |run| Box::pin(run.parked_events()),
            |run| Box::pin(run.pending_tickets()),
            |run| Box::pin(run.sweep()),
            |run| Box::pin(run.contraforce_comments()),
        ];
        let mut complete = true;
        for step in steps {
            match step(self).await {
                Step::Done => {}
                Step::Unfinished => complete = false,
                Step::Stopped => return false,
            }
        }
        complete
    }

    /// The outcome of one item's failure: a stop for the run (store, share), else the item is
    /// deferred and the run goes on.
    fn stops(&self, step: &str, e: &ApiError) -> Option<Step> {
        e.stops_run().then(|| self.stopped(step, e))
    }

    /// A deadline for one item: a delivery's, never past the run's.
    fn item_deadline(&self) -> Deadline {
        Deadline::after(
            self.reconcile
                .request_deadline
                .min(self.deadline.remaining()),
        )
    }

    /// Whether to stop before the next item: the run's time is up.
    fn out_of_time(&self) -> bool {
        self.deadline.remaining() < Duration::from_secs(1)
    }

    /// Logs why a step stopped and says so.
    fn stopped(&self, step: &str, why: &dyn std::fmt::Display) -> Step {
        tracing::info!(step, reason = %why, "reconcile run stopped early; the next run resumes");
        Step::Stopped
    }
}

/// The summary as one log line (also the timer's `Logs` entry).
pub fn summary_line(summary: &RunSummary) -> String {
    format!(
        "reconcile: {} event(s) re-driven, {} failed, {} ticket(s) swept, {} comment(s) forwarded, {} close(s) mirrored, {} note(s) to Halo, {} item(s) deferred, {} Halo call(s), complete: {}",
        summary.events_redriven,
        summary.events_failed,
        summary.tickets_swept,
        summary.comments_forwarded,
        summary.closes_mirrored,
        summary.notes_to_halo,
        summary.items_deferred,
        summary.halo_calls,
        summary.complete
    )
}
