//! The work queues: ContraForce events a delivery answered 503 (parked), Halo tickets a delivery
//! answered 503 (pending), and the failed lists both drain into when an item is rejected for
//! good, reaches its attempt limit or `LEDGER_TTL_DAYS`. `status` shows them, `replay` re-arms.

use serde::{Deserialize, Serialize};

use super::{
    Attempts, FAILED, FAILED_TICKETS, GAVE_UP, PARKED, PENDING, StateError, Work, now_ms,
    severity_rank, to_value,
};

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
    /// Its re-drives that failed.
    #[serde(flatten, default)]
    pub tries: Attempts,
}

/// An event Halo rejected (a 502), or that could not be processed before its attempt limit or
/// TTL: kept with the reason until replayed or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedEvent {
    /// The event as it was parked (or would have been).
    pub event: ParkedEvent,
    /// Halo's message, or the last error.
    pub message: String,
    /// When it failed.
    pub failed_at_ms: u64,
}

/// A Halo ticket whose delivery was answered 503.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTicket {
    /// The ticket.
    pub ticket_id: u64,
    /// When it was first marked.
    pub marked_at_ms: u64,
    /// When a delivery last marked it (a run that finished it meanwhile leaves it marked).
    #[serde(default)]
    pub last_marked_ms: u64,
    /// Its runs that failed.
    #[serde(flatten, default)]
    pub tries: Attempts,
}

/// A pending ticket given up on: refused for good, at its attempt limit or TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedTicket {
    /// The ticket.
    pub ticket_id: u64,
    /// The last error.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it failed.
    pub failed_at_ms: u64,
}

/// Earliest due first, then most severe, then oldest: a failed event moves behind the others.
fn queue_order(e: &ParkedEvent) -> (u64, u8, u64) {
    (
        e.tries.next_attempt_ms,
        severity_rank(&e.severity),
        e.parked_at_ms,
    )
}

impl Work<'_> {
    /// Parks an event (create-if-absent): one parked earlier keeps its place and attempts.
    pub async fn park(&self, event: ParkedEvent) -> Result<(), StateError> {
        let value = to_value(&event)?;
        self.store
            .create_record(PARKED, &event.event_id, &value)
            .await
            .map(drop)
    }

    /// Parked events, the due ones first (most severe, then oldest), then those waiting out a
    /// back-off. One past its TTL moves to the failed list first: never dropped unseen.
    pub async fn parked(&self) -> Result<Vec<ParkedEvent>, StateError> {
        let mut events = Vec::new();
        for (_, event) in self.all::<ParkedEvent>(PARKED).await? {
            if self.fresh(event.parked_at_ms) {
                events.push(event);
            } else {
                let why = event
                    .tries
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not processed before LEDGER_TTL_DAYS".into());
                self.give_up_event(event, &why).await?;
            }
        }
        let now = now_ms();
        events.sort_by_key(|e| (!e.tries.due(now), queue_order(e)));
        Ok(events)
    }

    /// Records a failed re-drive: the event waits out its back-off behind the others, or, at
    /// its attempt limit, moves to the failed list. True when it was given up on.
    pub async fn defer_event(
        &self,
        mut event: ParkedEvent,
        error: &str,
    ) -> Result<bool, StateError> {
        if event.tries.failed(error, self.retry_base, now_ms()) {
            self.give_up_event(event, error).await?;
            return Ok(true);
        }
        self.store
            .put_record(PARKED, &event.event_id, &to_value(&event)?)
            .await?;
        Ok(false)
    }

    async fn give_up_event(&self, event: ParkedEvent, error: &str) -> Result<(), StateError> {
        tracing::error!(
            kind = "event",
            event_id = %event.event_id,
            reference = %event.reference,
            attempts = event.tries.attempts,
            last_error = error,
            "{GAVE_UP}: moved to the failed list (status shows it, replay re-arms it)"
        );
        self.fail(event, error).await
    }

    /// Forgets a parked event (processed).
    pub async fn unpark(&self, event_id: &str) -> Result<(), StateError> {
        self.store.delete_record(PARKED, event_id).await
    }

    /// Moves an event to the failed list with Halo's message (or the last error).
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

    /// Failed events, oldest first (kept `LEDGER_TTL_DAYS` after failing).
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

    /// Moves a failed event back to the parked queue with fresh attempts; false when there is
    /// no such failed event.
    pub async fn replay(&self, event_id: &str) -> Result<bool, StateError> {
        let Some(failed) = self.get::<FailedEvent>(FAILED, event_id).await? else {
            return Ok(false);
        };
        let mut event = failed.event;
        event.parked_at_ms = now_ms();
        event.tries = Attempts::default();
        self.store
            .put_record(PARKED, event_id, &to_value(&event)?)
            .await?;
        self.store.delete_record(FAILED, event_id).await?;
        Ok(true)
    }

    /// Marks a ticket pending (its delivery was answered 503). An existing mark keeps its age and
    /// attempts but is renewed, so a run that was finishing the ticket meanwhile does not clear
    /// the newer failure's mark.
    pub async fn mark_pending(&self, ticket_id: u64) -> Result<(), StateError> {
        let key = ticket_id.to_string();
        let now = now_ms();
        let pending = match self.get::<PendingTicket>(PENDING, &key).await? {
            Some(earlier) => PendingTicket {
                last_marked_ms: now.max(earlier.last_marked_ms + 1),
                ..earlier
            },
            None => PendingTicket {
                ticket_id,
                marked_at_ms: now,
                last_marked_ms: now,
                tries: Attempts::default(),
            },
        };
        self.store
            .put_record(PENDING, &key, &to_value(&pending)?)
            .await
    }

    /// Pending tickets, the due ones first (oldest mark first), then those waiting out a
    /// back-off. One past its TTL moves to the failed tickets first.
    pub async fn pending(&self) -> Result<Vec<PendingTicket>, StateError> {
        let mut tickets = Vec::new();
        for (_, pending) in self.all::<PendingTicket>(PENDING).await? {
            if self.fresh(pending.marked_at_ms) {
                tickets.push(pending);
            } else {
                let why = pending
                    .tries
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not processed before LEDGER_TTL_DAYS".into());
                self.give_up_ticket(&pending, &why).await?;
            }
        }
        let now = now_ms();
        tickets.sort_by_key(|p| (!p.tries.due(now), p.tries.next_attempt_ms, p.marked_at_ms));
        Ok(tickets)
    }

    /// Records a pending ticket's failed run: it waits out its back-off, or, at its attempt
    /// limit, moves to the failed tickets. True when it was given up on.
    pub async fn defer_pending(
        &self,
        seen: &PendingTicket,
        error: &str,
    ) -> Result<bool, StateError> {
        let mut pending = seen.clone();
        if pending.tries.failed(error, self.retry_base, now_ms()) {
            self.give_up_ticket(&pending, error).await?;
            return Ok(true);
        }
        self.store
            .put_record(
                PENDING,
                &pending.ticket_id.to_string(),
                &to_value(&pending)?,
            )
            .await?;
        Ok(false)
    }

    /// Moves a pending ticket to the failed tickets (refused for good, or given up on).
    pub async fn give_up_ticket(
        &self,
        pending: &PendingTicket,
        error: &str,
    ) -> Result<(), StateError> {
        tracing::error!(
            kind = "ticket",
            ticket_id = pending.ticket_id,
            attempts = pending.tries.attempts,
            last_error = error,
            "{GAVE_UP}: moved to the failed list (status shows it, replay re-arms it)"
        );
        let failed = FailedTicket {
            ticket_id: pending.ticket_id,
            message: error.to_string(),
            attempts: pending.tries.attempts,
            failed_at_ms: now_ms(),
        };
        let key = pending.ticket_id.to_string();
        self.store
            .put_record(FAILED_TICKETS, &key, &to_value(&failed)?)
            .await?;
        self.store.delete_record(PENDING, &key).await
    }

    /// Failed tickets, oldest first (kept `LEDGER_TTL_DAYS` after failing).
    pub async fn failed_tickets(&self) -> Result<Vec<FailedTicket>, StateError> {
        let mut tickets = Vec::new();
        for (key, failed) in self.all::<FailedTicket>(FAILED_TICKETS).await? {
            if self.fresh(failed.failed_at_ms) {
                tickets.push(failed);
            } else {
                self.store.delete_record(FAILED_TICKETS, &key).await?;
            }
        }
        tickets.sort_by_key(|t| t.failed_at_ms);
        Ok(tickets)
    }

    /// Marks a failed ticket pending again with fresh attempts; false when there is none.
    pub async fn replay_ticket(&self, ticket_id: u64) -> Result<bool, StateError> {
        let key = ticket_id.to_string();
        if self
            .get::<FailedTicket>(FAILED_TICKETS, &key)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        self.store.delete_record(PENDING, &key).await?;
        self.mark_pending(ticket_id).await?;
        self.store.delete_record(FAILED_TICKETS, &key).await?;
        Ok(true)
    }

    /// Clears a pending mark unless a newer failure changed it meanwhile.
    pub async fn clear_pending(&self, seen: &PendingTicket) -> Result<(), StateError> {
        let key = seen.ticket_id.to_string();
        self.store
            .delete_record_if(PENDING, &key, &to_value(seen)?)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::StateStore;
    use crate::state::memory::MemoryStore;
    use crate::state::work::MAX_ATTEMPTS;

    fn event(id: &str, severity: &str, at: u64) -> ParkedEvent {
        ParkedEvent {
            event_id: id.into(),
            body: "{}".into(),
            schema: None,
            header_test: false,
            severity: severity.into(),
            reference: format!("cf|s|{id}"),
            parked_at_ms: at,
            tries: Attempts::default(),
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
    async fn a_failed_event_moves_behind_the_others_and_keeps_its_attempts_when_parked_again() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600)).with_retry_base(Duration::ZERO);
        let now = now_ms();
        work.park(event("poison", "High", now - 5000))
            .await
            .unwrap();
        work.park(event("other", "Low", now - 1000)).await.unwrap();
        let first = work.parked().await.unwrap().remove(0);
        assert_eq!(first.event_id, "poison");
        assert!(!work.defer_event(first, "contraforce 403").await.unwrap());
        let order: Vec<String> = work
            .parked()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(
            order,
            ["other", "poison"],
            "due at once, but behind the others"
        );
        // A delivery parking it again keeps its attempts.
        work.park(event("poison", "High", now)).await.unwrap();
        let poison = work
            .parked()
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.event_id == "poison")
            .unwrap();
        assert_eq!(poison.tries.attempts, 1);
    }

    #[tokio::test]
    async fn an_event_at_its_ttl_or_attempt_limit_moves_to_the_failed_list_never_dropped() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(60)).with_retry_base(Duration::ZERO);
        work.park(event("stale", "High", now_ms() - 61_000))
            .await
            .unwrap();
        assert!(work.parked().await.unwrap().is_empty());
        let failed = work.failed().await.unwrap();
        assert_eq!(failed.len(), 1, "expired, not deleted unseen");
        assert_eq!(failed[0].message, "not processed before LEDGER_TTL_DAYS");

        work.park(event("poison", "High", now_ms())).await.unwrap();
        let mut gave_up = false;
        for _ in 0..MAX_ATTEMPTS {
            let poison = work.parked().await.unwrap().remove(0);
            gave_up = work.defer_event(poison, "contraforce 403").await.unwrap();
        }
        assert!(gave_up);
        assert!(work.parked().await.unwrap().is_empty());
        assert!(
            work.failed()
                .await
                .unwrap()
                .iter()
                .any(|f| f.event.event_id == "poison" && f.message == "contraforce 403")
        );
        assert!(work.replay("poison").await.unwrap());
        assert_eq!(work.parked().await.unwrap()[0].tries.attempts, 0);
    }

    #[tokio::test]
    async fn failed_events_can_be_replayed_once() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(60));
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
        assert!(store.list_records(FAILED).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_pending_ticket_failing_for_good_moves_to_the_failed_tickets_and_replays() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600)).with_retry_base(Duration::ZERO);
        work.mark_pending(7).await.unwrap();
        work.mark_pending(8).await.unwrap();
        let seven = work
            .pending()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.ticket_id == 7)
            .unwrap();
        assert!(!work.defer_pending(&seven, "halo 500").await.unwrap());
        let order: Vec<u64> = work
            .pending()
            .await
            .unwrap()
            .iter()
            .map(|p| p.ticket_id)
            .collect();
        assert_eq!(order, [8, 7], "a failed ticket moves behind the others");
        let seven = work
            .pending()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.ticket_id == 7)
            .unwrap();
        work.give_up_ticket(&seven, "contraforce rejected: gone")
            .await
            .unwrap();
        assert_eq!(work.failed_tickets().await.unwrap()[0].ticket_id, 7);
        assert!(work.replay_ticket(7).await.unwrap());
        assert!(work.failed_tickets().await.unwrap().is_empty());
        assert_eq!(work.pending().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_pending_mark_renewed_meanwhile_is_not_cleared() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600));
        work.mark_pending(7).await.unwrap();
        let seen = work.pending().await.unwrap().remove(0);
        work.mark_pending(7).await.unwrap();
        work.clear_pending(&seen).await.unwrap();
        assert_eq!(work.pending().await.unwrap().len(), 1);
        let seen = work.pending().await.unwrap().remove(0);
        work.clear_pending(&seen).await.unwrap();
        assert!(work.pending().await.unwrap().is_empty());
    }
}
