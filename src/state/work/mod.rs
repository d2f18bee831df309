//! Unfinished work the `Reconcile` function finishes (CONTRACT §9.2, §13), as typed records on the
//! store's generic ones: parked and failed ContraForce events, pending and failed Halo tickets
//! (`queue`), watched tickets and when each is due (`watches`), the runs' status, per-event
//! progress, and references whose create is in doubt.
//!
//! Every work item carries its own [`Attempts`] (how often it failed, the last error, when it may
//! be tried again), like a job queue with back-off: a run takes what is due, and a failure
//! reschedules that one item. Nothing is dropped unseen: an item that reaches its attempt limit
//! or `LEDGER_TTL_DAYS` moves to a failed list, with one error line ([`GAVE_UP`]) to alert on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StateError, StateStore};

mod queue;
mod watches;

pub use queue::{FailedEvent, FailedTicket, ParkedEvent, PendingTicket};
pub use watches::{Watch, WatchPlan};

/// Record kinds, which are also the blob prefixes.
const PARKED: &str = "parked";
const FAILED: &str = "failed";
const FAILED_TICKETS: &str = "failedtickets";
const PENDING: &str = "pending";
const PROGRESS: &str = "progress";
const WATCH: &str = "watch";
const RECONCILE: &str = "reconcile";
const DOUBT: &str = "doubt";

/// The log line an operator alerts on (Bicep deploys the alert): work the bridge gave up on.
pub const GAVE_UP: &str = "reconcile gave up on a work item";
/// Attempts after which an item goes to its failed list.
pub const MAX_ATTEMPTS: u32 = 20;
/// The longest back-off, as a multiple of the base (`RECONCILE_RETRY_SECONDS`): 6 h at 60 s.
const MAX_BACKOFF_FACTOR: u64 = 360;

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Most severe first: `Critical`, `High`, `Medium`, `Low`, `Informational`, anything else.
pub fn severity_rank(severity: &str) -> u8 {
    match severity.to_ascii_lowercase().as_str() {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        "informational" => 4,
        _ => 5,
    }
}

/// How often an item failed, why last, and when it may be tried again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempts {
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Not before this, Unix milliseconds (0: now).
    #[serde(default)]
    pub next_attempt_ms: u64,
}

impl Attempts {
    /// Whether the item may be tried at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.next_attempt_ms <= now
    }

    /// Records one more failure and schedules the next attempt after `base × 2^(n−1)` (at most
    /// 360 × `base`); true when the attempt limit is reached.
    pub fn failed(&mut self, error: &str, base: Duration, now: u64) -> bool {
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(error.chars().take(500).collect());
        self.next_attempt_ms = now.saturating_add(backoff(base, self.attempts));
        self.attempts >= MAX_ATTEMPTS
    }
}

/// `base × 2^(n−1)`, at most 360 × `base`, in milliseconds.
pub fn backoff(base: Duration, n: u32) -> u64 {
    let base = base.as_millis() as u64;
    let factor = 1u64
        .checked_shl(n.saturating_sub(1).min(20))
        .unwrap_or(u64::MAX)
        .min(MAX_BACKOFF_FACTOR);
    base.saturating_mul(factor)
}

/// What one run did (CONTRACT §9.1, §13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Parked events a run re-drove to a ticket (created, or noted on the existing one).
    pub events_redriven: u64,
    /// Parked events Halo rejected, or given up on (moved to the failed list).
    pub events_failed: u64,
    /// CF-linked tickets the sweep processed.
    pub tickets_swept: u64,
    /// Halo notes forwarded to ContraForce as comments.
    pub comments_forwarded: u64,
    /// Closes mirrored (either direction).
    pub closes_mirrored: u64,
    /// ContraForce comments copied to Halo as notes.
    pub notes_to_halo: u64,
    /// Halo calls the run made.
    pub halo_calls: u64,
    /// Items that failed this run and wait for a later one (each with its own back-off).
    pub items_deferred: u64,
    /// Everything due was done or deferred; false when the run stopped early (deadline, budget
    /// share, store) and left the rest for the next.
    pub complete: bool,
}

/// How far an unfinished sweep got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepProgress {
    /// The sweep's `lastupdatefromdate`, Unix seconds.
    pub from: i64,
    /// When the run that began it started, Unix seconds: the mark once it completes, so what
    /// changed after a ticket was done is seen by the next sweep.
    pub started: i64,
    /// The page to read next (1-based; 0 in records written before pages were kept: page 1).
    #[serde(default)]
    pub page: u32,
    /// Tickets done so far (of the current page and the one before, so a page read again after
    /// a shift does not do them twice).
    pub done: Vec<u64>,
}

/// The last run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    /// When it started, Unix milliseconds.
    pub started_at_ms: u64,
    /// How long it took.
    pub elapsed_ms: u64,
    /// What it did.
    pub summary: RunSummary,
}

/// What runs remember between each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    /// The start of the last complete sweep, Unix seconds.
    pub sweep_mark: Option<i64>,
    /// A sweep that stopped early.
    pub sweep: Option<SweepProgress>,
    /// The last run.
    pub last_run: Option<LastRun>,
    /// Every watch record written before the due index existed has been indexed.
    #[serde(default)]
    pub watches_indexed: bool,
}

/// The typed view of the work records.
#[derive(Clone, Copy)]
pub struct Work<'a> {
    store: &'a dyn StateStore,
    ttl: Duration,
    retry_base: Duration,
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, StateError> {
    serde_json::to_value(value).map_err(|e| StateError::Unavailable(e.to_string()))
}

/// A record that no longer parses is skipped rather than failing every run.
fn from_value<T: DeserializeOwned>(kind: &str, key: &str, value: Value) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(kind, key, error = %e, "unreadable work record skipped");
            None
        }
    }
}

impl<'a> Work<'a> {
    /// Work records in `store`; unfinished items give up after `ttl`, failed ones are kept that
    /// long. Back-offs start at 60 s ([`Work::with_retry_base`]).
    pub fn new(store: &'a dyn StateStore, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            retry_base: Duration::from_secs(60),
        }
    }

    /// The same records with back-offs from `base` (`RECONCILE_RETRY_SECONDS`).
    pub fn with_retry_base(self, base: Duration) -> Self {
        Self {
            retry_base: base,
            ..self
        }
    }

    /// Whether a record made at `at_ms` is still within the TTL.
    fn fresh(&self, at_ms: u64) -> bool {
        now_ms() < at_ms.saturating_add(self.ttl.as_millis() as u64)
    }

    async fn all<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<(String, T)>, StateError> {
        Ok(self
            .store
            .list_records(kind)
            .await?
            .into_iter()
            .filter_map(|(key, value)| Some((key.clone(), from_value(kind, &key, value)?)))
            .collect())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<T>, StateError> {
        Ok(self
            .store
            .get_record(kind, key)
            .await?
            .and_then(|v| from_value(kind, key, v)))
    }

    /// What the runs remember.
    pub async fn status(&self) -> Result<RunStatus, StateError> {
        Ok(self.get(RECONCILE, "status").await?.unwrap_or_default())
    }

    /// Stores what the runs remember (only the run holding the `reconcile` claim writes it).
    pub async fn set_status(&self, status: &RunStatus) -> Result<(), StateError> {
        self.store
            .put_record(RECONCILE, "status", &to_value(status)?)
            .await
    }

    /// A step's progress for one event (the investigation note written before its action).
    pub async fn progress(&self, event_id: &str) -> Result<Option<Value>, StateError> {
        self.store.get_record(PROGRESS, event_id).await
    }

    /// Records a step's progress for one event.
    pub async fn set_progress(&self, event_id: &str, value: &Value) -> Result<(), StateError> {
        self.store.put_record(PROGRESS, event_id, value).await
    }

    /// Until when (Unix ms) a create for `reference` is in doubt: Halo may still complete it, so
    /// a lookup that finds nothing before then must not create (CONTRACT §13).
    pub async fn create_in_doubt(&self, reference: &str) -> Result<Option<u64>, StateError> {
        Ok(self
            .store
            .get_record(DOUBT, reference)
            .await?
            .and_then(|v| v["untilMs"].as_u64())
            .filter(|until| *until > now_ms()))
    }

    /// Marks a create for `reference` in doubt until `until_ms` (written before the create
    /// call, so a process killed during it leaves the mark).
    pub async fn doubt_create(&self, reference: &str, until_ms: u64) -> Result<(), StateError> {
        self.store
            .put_record(DOUBT, reference, &json!({ "untilMs": until_ms }))
            .await
    }

    /// Clears the doubt: the create's outcome is known.
    pub async fn clear_create_doubt(&self, reference: &str) -> Result<(), StateError> {
        self.store.delete_record(DOUBT, reference).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_the_base_up_to_360_times_it() {
        let base = Duration::from_secs(60);
        assert_eq!(backoff(base, 1), 60_000);
        assert_eq!(backoff(base, 2), 120_000);
        assert_eq!(backoff(base, 9), 256 * 60_000);
        assert_eq!(backoff(base, 10), 360 * 60_000);
        assert_eq!(backoff(base, 40), 360 * 60_000);
        assert_eq!(backoff(Duration::ZERO, 5), 0);
        let mut tries = Attempts::default();
        for n in 1..MAX_ATTEMPTS {
            assert!(!tries.failed("boom", base, 1000), "attempt {n}");
        }
        assert!(tries.failed("boom", base, 1000));
        assert_eq!(tries.last_error.as_deref(), Some("boom"));
        assert!(!tries.due(1000) && tries.due(1000 + 360 * 60_000));
    }
}
