//! Unfinished work the `Reconcile` function finishes (CONTRACT §9.2), as typed records on the
//! store's generic ones: parked and failed ContraForce events, pending Halo tickets, the runs'
//! status, and per-ticket ContraForce progress.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{StateError, StateStore};

/// Record kinds, which are also the blob prefixes. The first four expire with the ledgers
/// (`LEDGER_TTL_DAYS`; a lifecycle rule deletes them in Azure too).
const PARKED: &str = "parked";
const FAILED: &str = "failed";
const PENDING: &str = "pending";
const PROGRESS: &str = "progress";
const WATCH: &str = "watch";
const RECONCILE: &str = "reconcile";

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

/// A verified ContraForce delivery answered 503: what a run needs to re-drive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParkedEvent {
    /// The event (after replay resolution: the event that first carried its MAC).
    pub event_id: String,
    /// The raw body (it parsed as JSON, so it is UTF-8).
    pub body: String,
    /// `X-CF-Schema`, when sent.
    pub schema: Option<String>,
    /// `X-CF-Test: true` was sent.
    pub header_test: bool,
    /// The incident's severity, for the order of re-drives.
    pub severity: String,
    /// `cf|source|incidentId`, for `status`.
    pub reference: String,
    /// When it was first parked.
    pub parked_at_ms: u64,
}

/// An event Halo rejected (a 502): kept with Halo's message until replayed or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedEvent {
    /// The event as it was parked (or would have been).
    pub event: ParkedEvent,
    /// Halo's message.
    pub message: String,
    /// When Halo rejected it.
    pub failed_at_ms: u64,
}

/// A Halo ticket whose delivery was answered 503.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTicket {
    /// The ticket.
    pub ticket_id: u64,
    /// When it was (last) marked.
    pub marked_at_ms: u64,
}

/// What one run did (CONTRACT §9.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Parked events a run re-drove to a ticket (created, or noted on the existing one).
    pub events_redriven: u64,
    /// Parked events Halo rejected (moved to the failed list).
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
    /// Everything was done; false when the run stopped early and left the rest for the next.
    pub complete: bool,
}

/// How far an unfinished sweep got: the tickets it already processed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepProgress {
    /// The sweep's `lastupdatefromdate`, Unix seconds.
    pub from: i64,
    /// When the run that began it started, Unix seconds: the mark once it completes, so what
    /// changed after a ticket was done is seen by the next sweep.
    pub started: i64,
    /// Tickets done so far.
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
}

/// A CF-linked ticket whose ContraForce comments runs copy to Halo (CONTRACT §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    /// The ticket.
    pub ticket_id: u64,
    /// When a run last read its comments (0: never), Unix milliseconds.
    pub checked_at_ms: u64,
    /// Comment ids already handled (copied, or ours, or blank).
    pub copied: Vec<String>,
    /// Closing comments whose close was done (or not wanted), so a re-opened ticket stays open.
    #[serde(default)]
    pub closes: Vec<String>,
}

/// The typed view of the work records.
#[derive(Clone, Copy)]
pub struct Work<'a> {
    store: &'a dyn StateStore,
    ttl: Duration,
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
    /// Work records in `store`; parked, failed and pending ones expire after `ttl`.
    pub fn new(store: &'a dyn StateStore, ttl: Duration) -> Self {
        Self { store, ttl }
    }

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

    /// Parks an event (create-if-absent): one parked earlier keeps its place in the queue,
    /// unless it has expired.
    pub async fn park(&self, event: ParkedEvent) -> Result<(), StateError> {
        let key = event.event_id.clone();
        let value = to_value(&event)?;
        for _ in 0..3 {
            if self.store.create_record(PARKED, &key, &value).await? {
                return Ok(());
            }
            let Some(earlier) = self.store.get_record(PARKED, &key).await? else {
                continue;
            };
            let fresh = from_value::<ParkedEvent>(PARKED, &key, earlier.clone())
                .is_some_and(|e| self.fresh(e.parked_at_ms));
            if fresh {
                return Ok(());
            }
            // Expired: replaced only if nobody changed it meanwhile, then created again.
            self.store.delete_record_if(PARKED, &key, &earlier).await?;
        }
        Err(StateError::Unavailable(format!(
            "could not park {key}: contended"
        )))
    }

    /// Parked events, most severe first, then oldest first (expired ones are dropped).
    pub async fn parked(&self) -> Result<Vec<ParkedEvent>, StateError> {
        let mut events = Vec::new();
        for (key, event) in self.all::<ParkedEvent>(PARKED).await? {
            if self.fresh(event.parked_at_ms) {
                events.push(event);
            } else {
                self.store.delete_record(PARKED, &key).await?;
            }
        }
        events.sort_by_key(|e| (severity_rank(&e.severity), e.parked_at_ms));
        Ok(events)
    }

    /// Forgets a parked event (processed).
    pub async fn unpark(&self, event_id: &str) -> Result<(), StateError> {
        self.store.delete_record(PARKED, event_id).await
    }

    /// Moves an event to the failed list with Halo's message.
    pub async fn fail(&self, event: ParkedEvent, message: &str) -> Result<(), StateError> {
        let event_id = event.event_id.clone();
        let failed = FailedEvent {
            event,
            message: message.to_string(),
            failed_at_ms: now_ms(),
        };
        self.store
            .put_record(FAILED, &event_id, &to_value(&failed)?)
            .await?;
        self.unpark(&event_id).await
    }

    /// Failed events, oldest first (expired ones are dropped).
    pub async fn failed(&self) -> Result<Vec<FailedEvent>, StateError> {
        let mut events = Vec::new();
        for (key, event) in self.all::<FailedEvent>(FAILED).await? {
            if self.fresh(event.failed_at_ms) {
                events.push(event);
            } else {
                self.store.delete_record(FAILED, &key).await?;
            }
        }
        events.sort_by_key(|e| e.failed_at_ms);
        Ok(events)
    }

    /// Moves a failed event back to the parked queue; false when there is no such failed event.
    pub async fn replay(&self, event_id: &str) -> Result<bool, StateError> {
        let Some(value) = self.store.get_record(FAILED, event_id).await? else {
            return Ok(false);
        };
        let Some(failed) = from_value::<FailedEvent>(FAILED, event_id, value) else {
            return Ok(false);
        };
        let mut event = failed.event;
        event.parked_at_ms = now_ms();
        self.store
            .put_record(PARKED, event_id, &to_value(&event)?)
            .await?;
        self.store.delete_record(FAILED, event_id).await?;
        Ok(true)
    }

    /// Marks a ticket pending (its delivery was answered 503).
    pub async fn mark_pending(&self, ticket_id: u64) -> Result<(), StateError> {
        let pending = PendingTicket {
            ticket_id,
            marked_at_ms: now_ms(),
        };
        self.store
            .put_record(PENDING, &ticket_id.to_string(), &to_value(&pending)?)
            .await
    }

    /// Pending tickets, oldest mark first (expired ones are dropped).
    pub async fn pending(&self) -> Result<Vec<PendingTicket>, StateError> {
        let mut tickets = Vec::new();
        for (key, pending) in self.all::<PendingTicket>(PENDING).await? {
            if self.fresh(pending.marked_at_ms) {
                tickets.push(pending);
            } else {
                self.store.delete_record(PENDING, &key).await?;
            }
        }
        tickets.sort_by_key(|p| p.marked_at_ms);
        Ok(tickets)
    }

    /// Clears a pending mark unless a new failure marked the ticket again meanwhile.
    pub async fn clear_pending(&self, seen: &PendingTicket) -> Result<(), StateError> {
        let key = seen.ticket_id.to_string();
        self.store
            .delete_record_if(PENDING, &key, &to_value(seen)?)
            .await
            .map(drop)
    }

    /// What the runs remember.
    pub async fn status(&self) -> Result<RunStatus, StateError> {
        Ok(self
            .store
            .get_record(RECONCILE, "status")
            .await?
            .and_then(|v| from_value(RECONCILE, "status", v))
            .unwrap_or_default())
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

    /// Starts watching a linked ticket's ContraForce comments (create-if-absent: kept if already
    /// watched).
    pub async fn watch(&self, ticket_id: u64) -> Result<(), StateError> {
        let watch = Watch {
            ticket_id,
            ..Watch::default()
        };
        self.store
            .create_record(WATCH, &ticket_id.to_string(), &to_value(&watch)?)
            .await
            .map(drop)
    }

    /// Every watched ticket, least recently checked first.
    pub async fn watches(&self) -> Result<Vec<Watch>, StateError> {
        let mut watches: Vec<Watch> = self
            .all::<Watch>(WATCH)
            .await?
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        watches.sort_by_key(|w| (w.checked_at_ms, w.ticket_id));
        Ok(watches)
    }

    /// One watched ticket.
    pub async fn watched(&self, ticket_id: u64) -> Result<Option<Watch>, StateError> {
        let key = ticket_id.to_string();
        Ok(self
            .store
            .get_record(WATCH, &key)
            .await?
            .and_then(|v| from_value(WATCH, &key, v)))
    }

    /// Stores a watched ticket's progress (under the ticket's claim).
    pub async fn set_watch(&self, watch: &Watch) -> Result<(), StateError> {
        self.store
            .put_record(WATCH, &watch.ticket_id.to_string(), &to_value(watch)?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryStore;

    fn event(id: &str, severity: &str, at: u64) -> ParkedEvent {
        ParkedEvent {
            event_id: id.into(),
            body: "{}".into(),
            schema: None,
            header_test: false,
            severity: severity.into(),
            reference: format!("cf|s|{id}"),
            parked_at_ms: at,
        }
    }

    #[tokio::test]
    async fn parked_events_come_most_severe_first_then_oldest_and_keep_their_place() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600));
        let now = now_ms();
        work.park(event("low-old", "Low", now - 3000))
            .await
            .unwrap();
        work.park(event("high-new", "High", now - 1000))
            .await
            .unwrap();
        work.park(event("high-old", "high", now - 2000))
            .await
            .unwrap();
        work.park(event("odd", "Whatever", now - 9000))
            .await
            .unwrap();
        // Parked again later: keeps its original place.
        work.park(event("low-old", "Low", now)).await.unwrap();
        let order: Vec<String> = work
            .parked()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(order, ["high-old", "high-new", "low-old", "odd"]);
    }

    #[tokio::test]
    async fn expired_records_are_dropped_and_failed_events_can_be_replayed() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(60));
        work.park(event("stale", "High", now_ms() - 61_000))
            .await
            .unwrap();
        assert!(work.parked().await.unwrap().is_empty());
        assert!(store.list_records(PARKED).await.unwrap().is_empty());

        work.park(event("e1", "High", now_ms())).await.unwrap();
        work.fail(event("e1", "High", 0), "Please select a valid Ticket Type")
            .await
            .unwrap();
        assert!(work.parked().await.unwrap().is_empty());
        let failed = work.failed().await.unwrap();
        assert_eq!(failed[0].message, "Please select a valid Ticket Type");
        assert!(work.replay("e1").await.unwrap());
        assert!(!work.replay("e1").await.unwrap());
        assert_eq!(work.parked().await.unwrap()[0].event_id, "e1");
        assert!(work.failed().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_pending_mark_renewed_meanwhile_is_not_cleared() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600));
        work.mark_pending(7).await.unwrap();
        let seen = work.pending().await.unwrap().remove(0);
        tokio::time::sleep(Duration::from_millis(2)).await;
        work.mark_pending(7).await.unwrap();
        work.clear_pending(&seen).await.unwrap();
        assert_eq!(work.pending().await.unwrap().len(), 1);
        let seen = work.pending().await.unwrap().remove(0);
        work.clear_pending(&seen).await.unwrap();
        assert!(work.pending().await.unwrap().is_empty());
    }
}
