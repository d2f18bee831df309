//! Halo's call budget on our side: at most `calls` requests in any `window` (a sliding
//! window, like Halo's own "300 requests per rolling 5 minutes"), shared by both functions.
//!
//! A hand-written sliding log rather than a GCRA limiter (`governor`): Halo counts requests in
//! a trailing window, and only the same rule guarantees that a burst never meets a 429.
//!
//! When the budget is short, callers wait in one line ordered by priority, then arrival: a High
//! incident's ticket goes before a Low one's, so a storm larger than the budget drains most
//! severe first (CONTRACT §9, `bench-storm`).

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::{Deadline, System, UpstreamError};
use crate::settings::RateLimit;

/// Added to the window, so a slot is only reused once Halo has certainly forgotten the call
/// (a reserved call reaches Halo a little after we stamp it).
const SAFETY_MARGIN: Duration = Duration::from_secs(1);

/// Slots reserved ahead, used one per request.
#[derive(Debug, Default)]
pub struct Permit {
    left: AtomicU32,
}

impl Permit {
    /// Takes one slot; false when none is left.
    pub(crate) fn take(&self) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// How urgent a call is: lower goes first. Incidents use their severity's rank
/// (`state::work::severity_rank`: Critical 0, High 1, Medium 2, Low 3, Informational 4, other 5).
pub type Priority = u8;

/// The priority of calls that are not about a new incident (notes, reads, tokens).
pub const ROUTINE: Priority = 2;

/// Who is waiting: `(priority, arrival)`, the first in order served first.
#[derive(Default)]
struct Line {
    next: u64,
    waiting: BTreeSet<(Priority, u64)>,
}

/// The process-wide Halo budget.
pub struct Budget {
    calls: usize,
    window: Duration,
    /// When each counted call was stamped, oldest first.
    stamps: Mutex<VecDeque<Instant>>,
    /// Waiters, by priority then arrival.
    line: Mutex<Line>,
    /// Rung whenever the line or the head's chances change.
    changed: tokio::sync::Notify,
}

/// A place in the line, given up when dropped (served, failed or cancelled).
struct Place<'a> {
    budget: &'a Budget,
    key: (Priority, u64),
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.budget.line().waiting.remove(&self.key);
        self.budget.changed.notify_waiters();
    }
}

impl Budget {
    /// A budget of `limit.calls` per `limit.per`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            calls: limit.calls as usize,
            window: limit.per + SAFETY_MARGIN,
            stamps: Mutex::new(VecDeque::new()),
            line: Mutex::new(Line::default()),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn line(&self) -> MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls counted in the current window.
    pub fn in_window(&self) -> usize {
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut stamps, Instant::now());
        stamps.len()
    }

    fn prune(&self, stamps: &mut VecDeque<Instant>, now: Instant) {
        while stamps
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            stamps.pop_front();
        }
    }

    /// Counts `n` calls now, or says when they could be counted.
    fn try_take(&self, n: usize) -> Result<(), Instant> {
        let now = Instant::now();
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut stamps, now);
        if stamps.len() + n <= self.calls {
            stamps.extend(std::iter::repeat_n(now, n));
            return Ok(());
        }
        // The call that must leave the window before `n` more fit.
        let index = (stamps.len() + n)
            .saturating_sub(self.calls + 1)
            .min(stamps.len().saturating_sub(1));
        Err(stamps.get(index).map_or(now, |t| *t + self.window))
    }

    fn exhausted(&self, until: Instant) -> UpstreamError {
        let wait = until.saturating_duration_since(Instant::now());
        UpstreamError::Unavailable {
            system: System::Halo,
            retry_after: Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            not_processed: true,
            reason: "halo call budget exhausted".into(),
        }
    }

    /// Reserves `n` calls at the routine priority, waiting while the deadline allows.
    pub async fn reserve(&self, n: u32, deadline: Deadline) -> Result<Permit, UpstreamError> {
        self.reserve_as(n, deadline, ROUTINE).await
    }

    /// Reserves `n` calls, waiting in line (by `priority`, then arrival) while the deadline
    /// allows; a wait that would end past the deadline fails at once with the time it needs.
    pub async fn reserve_as(
        &self,
        n: u32,
        deadline: Deadline,
        priority: Priority,
    ) -> Result<Permit, UpstreamError> {
        let n = (n as usize).min(self.calls);
        let permit = || Permit {
            left: AtomicU32::new(n as u32),
        };
        let place = {
            let mut line = self.line();
            // Nobody as urgent is waiting: take the room there is, if any.
            let ahead = line.waiting.first().is_some_and(|(p, _)| *p <= priority);
            if !ahead && self.try_take(n).is_ok() {
                return Ok(permit());
            }
            let key = (priority, line.next);
            line.next += 1;
            line.waiting.insert(key);
            Place { budget: self, key }
        };
        // A more urgent arrival may have displaced the head: let it look again.
        self.changed.notify_waiters();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let head = self.line().waiting.first() == Some(&place.key);
            if head {
                match self.try_take(n) {
                    Ok(()) => return Ok(permit()),
                    Err(until) if until > deadline.instant() => return Err(self.exhausted(until)),
                    Err(until) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(until) => {}
                            () = &mut changed => {}
                        }
                    }
                }
            } else {
                tokio::select! {
                    () = &mut changed => {}
                    () = tokio::time::sleep_until(deadline.instant()) => {
                        // Everyone ahead needs the window to clear first.
                        let clears = self
                            .stamps
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .back()
                            .map(|t| *t + self.window);
                        return Err(self.exhausted(clears.unwrap_or_else(Instant::now)));
                    }
                }
            }
        }
    }

    /// Whether `n` calls would fit now (nothing is counted).
    pub fn has_room(&self, n: u32) -> bool {
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut stamps, Instant::now());
        stamps.len() + (n as usize).min(self.calls) <= self.calls
    }

    /// Counts `n` calls now or fails at once, never waiting: a lane that must not hold up its
    /// caller (a reconcile run stops when its share is used, CONTRACT §9.2).
    pub fn try_reserve_now(&self, n: u32) -> Result<(), UpstreamError> {
        let n = (n as usize).min(self.calls);
        self.try_take(n).map_err(|until| {
            let wait = until.saturating_duration_since(Instant::now());
            UpstreamError::ShareUsed {
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Spends one slot of `permit` if it has one, else reserves a fresh one.
    pub async fn acquire(
        &self,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        if permit.is_some_and(Permit::take) {
            return Ok(());
        }
        self.reserve(1, deadline).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn budget(calls: u32, secs: u64) -> Budget {
        Budget::new(RateLimit {
            calls,
            per: Duration::from_secs(secs),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn calls_within_the_budget_pass_at_once_and_the_next_waits_for_the_window() {
        let b = budget(3, 10);
        let deadline = Deadline::after(Duration::from_secs(60));
        for _ in 0..3 {
            b.acquire(None, deadline).await.unwrap();
        }
        let start = Instant::now();
        b.acquire(None, deadline).await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(11),
            "window plus safety margin"
        );
        assert_eq!(b.in_window(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_deadline_fails_at_once_with_the_time_until_budget_returns() {
        let b = budget(2, 10);
        b.reserve(2, Deadline::after(Duration::from_secs(1)))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(4)).await;
        let start = Instant::now();
        let err = b
            .reserve(1, Deadline::after(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(7));
        assert!(start.elapsed() < Duration::from_millis(1));
        assert!(matches!(
            err,
            UpstreamError::Unavailable {
                not_processed: true,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_spends_its_reserved_slots_before_taking_new_ones() {
        let b = budget(5, 10);
        let deadline = Deadline::after(Duration::from_secs(1));
        let permit = b.reserve(2, deadline).await.unwrap();
        assert_eq!(b.in_window(), 2);
        b.acquire(Some(&permit), deadline).await.unwrap();
        b.acquire(Some(&permit), deadline).await.unwrap();
        assert_eq!(b.in_window(), 2, "reserved slots were already counted");
        b.acquire(Some(&permit), deadline).await.unwrap();
        assert_eq!(b.in_window(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_budget_is_short_the_most_urgent_waiter_goes_first() {
        let b = Arc::new(budget(2, 10));
        b.reserve(2, Deadline::after(Duration::from_secs(1)))
            .await
            .unwrap();
        let waiter = |priority: Priority| {
            let b = b.clone();
            tokio::spawn(async move {
                b.reserve_as(1, Deadline::after(Duration::from_secs(60)), priority)
                    .await
                    .map(|_| Instant::now())
            })
        };
        let low = waiter(3);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let routine = waiter(ROUTINE);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let high = waiter(1);
        let (high, routine, low) = (
            high.await.unwrap().unwrap(),
            routine.await.unwrap().unwrap(),
            low.await.unwrap().unwrap(),
        );
        assert!(
            high <= routine && routine < low,
            "{high:?} {routine:?} {low:?}"
        );
        // Two slots free at 11 s: High and the routine call; Low waits for the next window.
        assert_eq!(low.duration_since(high), Duration::from_secs(11));
        assert_eq!(b.in_window(), 1);
        assert!(b.has_room(1) && !b.has_room(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_reservation_never_waits() {
        let b = budget(3, 10);
        b.try_reserve_now(2).unwrap();
        let err = b.try_reserve_now(2).unwrap_err();
        assert_eq!(err.retry_after(), Some(11));
        b.try_reserve_now(1).unwrap();
        assert_eq!(b.in_window(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_budget() {
        let b = Arc::new(budget(4, 2));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                b.acquire(None, Deadline::after(Duration::from_secs(60)))
                    .await
                    .map(|()| Instant::now())
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap().unwrap());
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| u.duration_since(*t) < Duration::from_secs(2))
                .count();
            assert!(
                in_window <= 4,
                "{in_window} calls within 2 s starting at call {i}"
            );
        }
    }
}
