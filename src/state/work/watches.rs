//! Watched tickets: the CF-linked tickets whose ContraForce comments and closes runs copy to Halo
//! (CONTRACT §10.2), each with the time it is next due, kept in an ordered index (the store's
//! `index_*`, time-bucketed names on blob) so a run reads only the watches that are due, never
//! every ticket ever linked (CONTRACT §13).
//!
//! A check that found nothing new makes the next one wait twice as long (up to 360 × the base);
//! one that found something makes it due again after the base. A failing check backs off like any
//! item and, at its attempt limit, the watch is dropped with the alert line. A ticket closed on
//! both sides is not checked; it is dropped once idle `RECONCILE_WATCH_DAYS`, and watched again
//! when it is re-opened.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Attempts, GAVE_UP, StateError, WATCH, Work, backoff, from_value, now_ms, to_value};

/// The due index: `{due ms, 13 digits}-{ticket id, 20 digits}`, so byte order is time order.
const WATCH_DUE: &str = "watch-due";

fn due_key(due_ms: u64, ticket_id: u64) -> String {
    format!("{due_ms:013}-{ticket_id:020}")
}

fn parse_due_key(key: &str) -> Option<(u64, u64)> {
    let (due, ticket) = key.split_once('-')?;
    Some((due.parse().ok()?, ticket.parse().ok()?))
}

/// A CF-linked ticket whose ContraForce comments runs copy to Halo.
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
    /// When it is next due (its entry in the due index), Unix milliseconds; 0 in records written
    /// before the index existed.
    #[serde(default)]
    pub due_ms: u64,
    /// Checks in a row that found nothing new.
    #[serde(default)]
    pub idle: u32,
    /// When a check last found something (or the watch began), Unix milliseconds.
    #[serde(default)]
    pub last_activity_ms: u64,
    /// When a check first found it closed on both sides (0: open).
    #[serde(default)]
    pub closed_at_ms: u64,
    /// A comment whose Halo note post failed ambiguously: the next check lists the ticket's
    /// actions before posting it again (CONTRACT §13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<String>,
    /// The incident's reference and account, as linked when the watch began (so a check needs
    /// no read of the link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The incident's account (CONTRACT §8.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Its failed checks.
    #[serde(flatten, default)]
    pub tries: Attempts,
}

/// What a check came to, and so when the watch is due next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchPlan {
    /// Checked; `activity` when something new was copied or closed.
    Checked {
        /// Something new was found.
        activity: bool,
    },
    /// The check failed with this error.
    Failed(String),
    /// Closed on both sides: due again (to be dropped, unless re-opened) after `RECONCILE_WATCH_DAYS`.
    Closed(Duration),
}

impl Work<'_> {
    /// Starts watching a ticket linked to `reference` (create-if-absent: kept if already
    /// watched), due now.
    pub async fn watch(
        &self,
        ticket_id: u64,
        reference: &str,
        account_id: Option<&str>,
    ) -> Result<(), StateError> {
        self.watch_due_at(ticket_id, Some((reference, account_id)), now_ms())
            .await
    }

    /// Starts watching a ticket, due at `due_ms` (create-if-absent).
    pub async fn watch_due_at(
        &self,
        ticket_id: u64,
        link: Option<(&str, Option<&str>)>,
        due_ms: u64,
    ) -> Result<(), StateError> {
        let watch = Watch {
            ticket_id,
            due_ms,
            last_activity_ms: now_ms(),
            reference: link.map(|(r, _)| r.to_owned()),
            account_id: link.and_then(|(_, a)| a.map(str::to_owned)),
            ..Watch::default()
        };
        if self
            .store
            .create_record(WATCH, &ticket_id.to_string(), &to_value(&watch)?)
            .await?
        {
            self.store
                .index_put(WATCH_DUE, &due_key(due_ms, ticket_id))
                .await?;
        }
        Ok(())
    }

    /// Makes a watched ticket due now (it was re-opened in Halo), or watches it again when it
    /// had been dropped.
    pub async fn rearm_watch(&self, ticket_id: u64) -> Result<(), StateError> {
        match self.watched(ticket_id).await? {
            None => self.watch_due_at(ticket_id, None, now_ms()).await,
            Some(watch) if watch.due_ms > now_ms() => {
                let now = now_ms();
                let moved = Watch {
                    idle: 0,
                    last_activity_ms: now,
                    closed_at_ms: 0,
                    ..watch.clone()
                };
                self.move_watch(&watch, moved, now).await
            }
            Some(_) => Ok(()),
        }
    }

    /// At most `limit` watched tickets that are due now, the longest due first. Index entries
    /// left by a watch that moved meanwhile are cleaned up on the way.
    pub async fn due_watches(&self, limit: usize) -> Result<Vec<Watch>, StateError> {
        let upto = due_key(now_ms(), u64::MAX);
        let keys = self
            .store
            .index_range(WATCH_DUE, &upto, limit.saturating_mul(2).saturating_add(8))
            .await?;
        let mut due = Vec::new();
        for key in keys {
            if due.len() >= limit {
                break;
            }
            let Some((due_ms, ticket_id)) = parse_due_key(&key) else {
                self.store.index_delete(WATCH_DUE, &key).await?;
                continue;
            };
            match self.watched(ticket_id).await? {
                Some(watch) if watch.due_ms == due_ms => due.push(watch),
                _ => self.store.index_delete(WATCH_DUE, &key).await?,
            }
        }
        Ok(due)
    }

    /// Puts every watch written before the due index existed into it (once per store).
    pub async fn index_legacy_watches(&self) -> Result<usize, StateError> {
        let now = now_ms();
        let mut indexed = 0;
        for (_, watch) in self.all::<Watch>(WATCH).await? {
            if watch.due_ms == 0 {
                let moved = Watch {
                    last_activity_ms: watch.checked_at_ms.max(1),
                    ..watch.clone()
                };
                self.move_watch(&watch, moved, now).await?;
                indexed += 1;
            }
        }
        Ok(indexed)
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

    /// Stores a watched ticket's progress (under the ticket's claim), its schedule unchanged.
    pub async fn set_watch(&self, watch: &Watch) -> Result<(), StateError> {
        self.store
            .put_record(WATCH, &watch.ticket_id.to_string(), &to_value(watch)?)
            .await
    }

    /// Schedules a watch after a check; false when it was dropped (closed and idle
    /// `RECONCILE_WATCH_DAYS`, or failing at its attempt limit).
    pub async fn reschedule(&self, watch: &Watch, plan: WatchPlan) -> Result<bool, StateError> {
        let now = now_ms();
        let mut next = watch.clone();
        next.checked_at_ms = now;
        let due = match plan {
            WatchPlan::Checked { activity } => {
                next.tries = Attempts::default();
                next.closed_at_ms = 0;
                if activity {
                    next.idle = 0;
                    next.last_activity_ms = now;
                } else {
                    next.idle = next.idle.saturating_add(1);
                }
                now + backoff(self.retry_base, next.idle + 1)
            }
            WatchPlan::Failed(error) => {
                if next.tries.failed(&error, self.retry_base, now) {
                    tracing::error!(
                        kind = "watch",
                        ticket_id = watch.ticket_id,
                        attempts = next.tries.attempts,
                        last_error = %error,
                        "{GAVE_UP}: its ContraForce comments are no longer read (a webhook or sweep that finds the ticket linked watches it again)"
                    );
                    self.drop_watch(watch).await?;
                    return Ok(false);
                }
                next.tries.next_attempt_ms
            }
            WatchPlan::Closed(keep) => {
                next.tries = Attempts::default();
                if next.closed_at_ms == 0 {
                    next.closed_at_ms = now;
                }
                let until = next.closed_at_ms.saturating_add(keep.as_millis() as u64);
                if until <= now {
                    tracing::info!(
                        ticket_id = watch.ticket_id,
                        "closed on both sides and idle RECONCILE_WATCH_DAYS: no longer watched"
                    );
                    self.drop_watch(watch).await?;
                    return Ok(false);
                }
                until.max(now + 1)
            }
        };
        self.move_watch(watch, next, due).await?;
        Ok(true)
    }

    /// Writes `next` due at `due_ms`: the new index entry first, then the record, then the old
    /// entry goes (a crash in between leaves a stale entry, which `due_watches` removes).
    async fn move_watch(
        &self,
        old: &Watch,
        mut next: Watch,
        due_ms: u64,
    ) -> Result<(), StateError> {
        next.due_ms = due_ms;
        self.store
            .index_put(WATCH_DUE, &due_key(due_ms, next.ticket_id))
            .await?;
        self.set_watch(&next).await?;
        if old.due_ms != due_ms {
            self.store
                .index_delete(WATCH_DUE, &due_key(old.due_ms, old.ticket_id))
                .await?;
        }
        Ok(())
    }

    async fn drop_watch(&self, watch: &Watch) -> Result<(), StateError> {
        self.store
            .delete_record(WATCH, &watch.ticket_id.to_string())
            .await?;
        self.store
            .index_delete(WATCH_DUE, &due_key(watch.due_ms, watch.ticket_id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateStore;
    use crate::state::memory::MemoryStore;

    #[test]
    fn due_keys_sort_by_time_and_read_back() {
        let a = due_key(1_000, 99);
        let b = due_key(20_000, 1);
        assert!(a < b);
        assert_eq!(parse_due_key(&b), Some((20_000, 1)));
        assert_eq!(parse_due_key("nonsense"), None);
    }

    #[tokio::test]
    async fn only_due_watches_are_read_and_idle_ones_wait_longer_each_time() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work =
            Work::new(&store, Duration::from_secs(3600)).with_retry_base(Duration::from_secs(60));
        for ticket in 1..=5 {
            work.watch(ticket, "cf|s|x", None).await.unwrap();
        }
        let due = work.due_watches(10).await.unwrap();
        assert_eq!(due.len(), 5);
        for watch in &due[..4] {
            work.reschedule(watch, WatchPlan::Checked { activity: false })
                .await
                .unwrap();
        }
        let due = work.due_watches(10).await.unwrap();
        assert_eq!(due.iter().map(|w| w.ticket_id).collect::<Vec<_>>(), [5]);
        let one = work.watched(1).await.unwrap().unwrap();
        assert_eq!(one.idle, 1);
        assert!(
            one.due_ms >= now_ms() + 100_000,
            "idle once: twice the base"
        );
        assert_eq!(
            store.index_range(WATCH_DUE, "~", 100).await.unwrap().len(),
            5,
            "one entry per watch"
        );
    }

    #[tokio::test]
    async fn a_failing_watch_backs_off_and_drops_out_at_its_limit() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600)).with_retry_base(Duration::ZERO);
        work.watch(7, "cf|s|x", None).await.unwrap();
        let mut kept = true;
        for _ in 0..super::super::MAX_ATTEMPTS {
            let watch = work.due_watches(1).await.unwrap().remove(0);
            kept = work
                .reschedule(&watch, WatchPlan::Failed("contraforce 404".into()))
                .await
                .unwrap();
        }
        assert!(!kept);
        assert!(work.watched(7).await.unwrap().is_none());
        assert!(work.due_watches(1).await.unwrap().is_empty());
        assert!(
            store
                .index_range(WATCH_DUE, "~", 100)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_closed_watch_is_dropped_after_the_watch_days_and_rearmed_when_reopened() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600)).with_retry_base(Duration::ZERO);
        work.watch(9, "cf|s|x", None).await.unwrap();
        let watch = work.due_watches(1).await.unwrap().remove(0);
        assert!(
            work.reschedule(&watch, WatchPlan::Closed(Duration::from_secs(86_400)))
                .await
                .unwrap()
        );
        assert!(
            work.due_watches(1).await.unwrap().is_empty(),
            "not due for a day"
        );
        let watch = work.watched(9).await.unwrap().unwrap();
        assert!(watch.closed_at_ms > 0);
        assert!(
            !work
                .reschedule(&watch, WatchPlan::Closed(Duration::ZERO))
                .await
                .unwrap()
        );
        assert!(work.watched(9).await.unwrap().is_none());
        work.rearm_watch(9).await.unwrap();
        assert_eq!(work.due_watches(1).await.unwrap()[0].ticket_id, 9);
    }

    #[tokio::test]
    async fn watches_written_before_the_index_are_indexed_once() {
        let store = MemoryStore::new(Duration::from_secs(3600));
        let work = Work::new(&store, Duration::from_secs(3600));
        let legacy = serde_json::json!({"ticketId": 4, "checkedAtMs": 5, "copied": []});
        store.put_record(WATCH, "4", &legacy).await.unwrap();
        assert!(work.due_watches(5).await.unwrap().is_empty());
        assert_eq!(work.index_legacy_watches().await.unwrap(), 1);
        assert_eq!(work.due_watches(5).await.unwrap()[0].ticket_id, 4);
        assert_eq!(work.index_legacy_watches().await.unwrap(), 0);
    }
}
