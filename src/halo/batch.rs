//! Group commit for Halo calls (CONTRACT §12): requests that wait together leave together as one
//! call. The first request of an idle queue is sent at once (no added latency when nothing
//! waits); requests that arrive while a call is in flight, or waits for the budget, queue and
//! leave with the next call, up to `HALO_BATCH_MAX`, most urgent first. Halo's budget is the
//! bottleneck, so its waits are where batches form, as in a database's group commit.
//!
//! While a storm is under way (the last call carried more than one request), the next call also
//! lingers up to [`STORM_LINGER`] for company, unless it is full or a request's deadline is near:
//! a storm of ten incidents a second then costs a call per twenty, not per four, of a budget the
//! MSP's other integrations share. A lone request of an idle queue never lingers.
//!
//! The queue knows nothing of Halo: a batch's work is a closure given the requests and returning
//! one result per request, in the same order (matching Halo's answers to requests is the
//! closure's business, by reference, never by position).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::http::budget::Priority;
use crate::http::{Deadline, System, UpstreamError};

/// A batch's work: the requests in, one result each out.
pub(crate) type Work<R, T> = Arc<
    dyn Fn(Vec<R>, Deadline, Priority) -> Pin<Box<dyn Future<Output = Vec<T>> + Send>>
        + Send
        + Sync,
>;

/// How long a call lingers for company while a storm is under way.
pub(crate) const STORM_LINGER: Duration = Duration::from_secs(2);
/// A request whose deadline is this close is not kept waiting for company.
const DEADLINE_HEADROOM: Duration = Duration::from_secs(3);

struct Entry<R, T> {
    request: R,
    priority: Priority,
    arrival: u64,
    queued: Instant,
    deadline: Deadline,
    answer: oneshot::Sender<T>,
}

struct State<R, T> {
    waiting: Vec<Entry<R, T>>,
    leading: bool,
    arrivals: u64,
}

/// One queue of requests of one kind (ticket creates, lookups, notes).
pub(crate) struct Queue<R, T> {
    state: Arc<Mutex<State<R, T>>>,
    max: usize,
    linger: Duration,
}

impl<R: Send + 'static, T: Send + 'static> Queue<R, T> {
    /// A queue whose calls carry at most `max` requests (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                waiting: Vec::new(),
                leading: false,
                arrivals: 0,
            })),
            max: max.max(1),
            linger: Duration::ZERO,
        }
    }

    /// The same queue, lingering up to `linger` for company while a storm is under way.
    pub(crate) fn lingering(self, linger: Duration) -> Self {
        Self { linger, ..self }
    }

    /// Requests waiting for a call (not counting those in the call in flight).
    pub(crate) fn waiting(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .waiting
            .iter()
            .filter(|e| !e.deadline.passed() && !e.answer.is_closed())
            .count()
    }

    /// Submits `request` and waits for its result, until `deadline` (then a 503: its request
    /// may still leave with a later call, which the caller's own bookkeeping must allow for).
    pub(crate) async fn submit(
        &self,
        request: R,
        priority: Priority,
        deadline: Deadline,
        work: Work<R, T>,
        timed_out: impl FnOnce() -> T,
    ) -> T {
        let (answer, result) = oneshot::channel();
        let lead = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.arrivals += 1;
            let arrival = state.arrivals;
            state.waiting.push(Entry {
                request,
                priority,
                arrival,
                queued: Instant::now(),
                deadline,
                answer,
            });
            !std::mem::replace(&mut state.leading, true)
        };
        if lead {
            tokio::spawn(lead_batches(
                self.state.clone(),
                self.max,
                self.linger,
                work,
            ));
        }
        match tokio::time::timeout_at(deadline.instant(), result).await {
            Ok(Ok(value)) => value,
            _ => timed_out(),
        }
    }
}

/// Sends batches while requests wait: each takes the most urgent (then oldest) up to `max`; the
/// requests whose deadline has passed are dropped unsent.
async fn lead_batches<R: Send + 'static, T: Send + 'static>(
    state: Arc<Mutex<State<R, T>>>,
    max: usize,
    linger: Duration,
    work: Work<R, T>,
) {
    let mut last_size = 0;
    loop {
        if last_size > 1 && !linger.is_zero() {
            wait_for_company(&state, max, linger).await;
        }
        let batch: Vec<Entry<R, T>> = {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state
                .waiting
                .retain(|e| !e.deadline.passed() && !e.answer.is_closed());
            if state.waiting.is_empty() {
                state.leading = false;
                return;
            }
            state.waiting.sort_by_key(|e| (e.priority, e.arrival));
            let take = state.waiting.len().min(max);
            state.waiting.drain(..take).collect()
        };
        last_size = batch.len();
        let priority = batch.iter().map(|e| e.priority).min().unwrap_or_default();
        // The call may take as long as the most patient request waits.
        let deadline = batch
            .iter()
            .map(|e| e.deadline)
            .max_by_key(|d| d.instant())
            .unwrap_or_else(|| Deadline::after(std::time::Duration::from_secs(1)));
        let (requests, answers): (Vec<R>, Vec<oneshot::Sender<T>>) =
            batch.into_iter().map(|e| (e.request, e.answer)).unzip();
        let results = work(requests, deadline, priority).await;
        for (answer, result) in answers.into_iter().zip(results) {
            let _ = answer.send(result);
        }
    }
}

/// Waits until `max` requests wait, the oldest has waited `linger`, or one's deadline is near.
async fn wait_for_company<R, T>(state: &Mutex<State<R, T>>, max: usize, linger: Duration) {
    loop {
        let wait = {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            let live = || {
                state
                    .waiting
                    .iter()
                    .filter(|e| !e.deadline.passed() && !e.answer.is_closed())
            };
            let count = live().count();
            let oldest = live().map(|e| e.queued).min();
            let nearest = live().map(|e| e.deadline.remaining()).min();
            match (oldest, nearest) {
                (Some(oldest), Some(nearest)) if count < max && nearest > DEADLINE_HEADROOM => {
                    linger.saturating_sub(oldest.elapsed())
                }
                _ => Duration::ZERO,
            }
        };
        if wait.is_zero() {
            return;
        }
        tokio::time::sleep(wait.min(Duration::from_millis(25))).await;
    }
}

/// The error a request gets when its deadline passes in the queue or in the call.
pub(crate) fn timed_out() -> UpstreamError {
    UpstreamError::unavailable_after_send(
        System::Halo,
        "deadline passed waiting for a batched call",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::join_all;

    use super::*;

    fn recorder(calls: Arc<Mutex<Vec<Vec<u32>>>>) -> Work<u32, u32> {
        Arc::new(move |batch: Vec<u32>, _, _| {
            let calls = calls.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                calls.lock().unwrap().push(batch.clone());
                batch.into_iter().map(|n| n * 10).collect()
            })
        })
    }

    #[tokio::test]
    async fn a_lone_request_leaves_at_once_and_waiting_ones_leave_together_most_urgent_first() {
        let queue = Arc::new(Queue::<u32, u32>::new(3));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let work = recorder(calls.clone());
        let deadline = || Deadline::after(Duration::from_secs(5));
        let first = {
            let (queue, work) = (queue.clone(), work.clone());
            tokio::spawn(async move { queue.submit(1, 3, deadline(), work, || 0).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let rest = join_all((2..=6).map(|n| {
            let (queue, work) = (queue.clone(), work.clone());
            let priority = if n == 6 { 0 } else { 3 };
            async move { queue.submit(n, priority, deadline(), work, || 0).await }
        }))
        .await;
        assert_eq!(first.await.unwrap(), 10);
        assert_eq!(rest, [20, 30, 40, 50, 60]);
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls, vec![vec![1], vec![6, 2, 3], vec![4, 5]]);
    }

    #[tokio::test]
    async fn during_a_storm_a_call_lingers_for_company_until_full_but_never_past_a_near_deadline() {
        let queue = Arc::new(Queue::<u32, u32>::new(4).lingering(Duration::from_millis(400)));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let work = recorder(calls.clone());
        let submit = |n: u32, deadline: Deadline| {
            let (queue, work) = (queue.clone(), work.clone());
            tokio::spawn(async move { queue.submit(n, 2, deadline, work, || 0).await })
        };
        let patient = || Deadline::after(Duration::from_secs(10));
        // 1 leaves alone; 2 and 3 wait for it and leave together: a storm is under way.
        let mut answers = vec![submit(1, patient())];
        tokio::time::sleep(Duration::from_millis(10)).await;
        answers.extend([submit(2, patient()), submit(3, patient())]);
        tokio::time::sleep(Duration::from_millis(60)).await;
        // 4 arrives during that call; the next call lingers for 5, 6 and 7 (then it is full).
        answers.push(submit(4, patient()));
        for n in 5..=7 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            answers.push(submit(n, patient()));
        }
        for a in answers {
            a.await.unwrap();
        }
        let batches = calls.lock().unwrap().clone();
        assert_eq!(batches, vec![vec![1], vec![2, 3], vec![4, 5, 6, 7]]);

        // A request whose deadline is near is never kept waiting for company.
        calls.lock().unwrap().clear();
        let soon = || Deadline::after(Duration::from_millis(2500));
        let started = Instant::now();
        let mut answers = vec![submit(10, soon())];
        tokio::time::sleep(Duration::from_millis(10)).await;
        answers.extend([submit(11, soon()), submit(12, soon())]);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let hurried = submit(13, soon());
        for a in answers {
            a.await.unwrap();
        }
        hurried.await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        let batches = calls.lock().unwrap().clone();
        assert_eq!(batches, vec![vec![10], vec![11, 12], vec![13]]);
    }

    #[tokio::test]
    async fn a_request_whose_deadline_passes_gets_its_timeout_answer() {
        let queue = Queue::<u32, u32>::new(1);
        let slow: Work<u32, u32> = Arc::new(|batch, _, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                batch
            })
        });
        let sent = Arc::new(AtomicUsize::new(0));
        let answer = queue
            .submit(
                7,
                2,
                Deadline::after(Duration::from_millis(50)),
                slow,
                || {
                    sent.fetch_add(1, Ordering::Relaxed);
                    99
                },
            )
            .await;
        assert_eq!(answer, 99);
    }
}
