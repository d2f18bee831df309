//! Group commit for Halo calls (CONTRACT §12): requests that wait together leave together as one
//! call. The first request of an idle queue is sent at once (no added latency when nothing
//! waits); requests that arrive while a call is in flight, or waits for the budget, queue and
//! leave with the next call, up to `HALO_BATCH_MAX`, most urgent first. Halo's budget is the
//! bottleneck, so its waits are where batches form, as in a database's group commit.
//!
//! The queue knows nothing of Halo: a batch's work is a closure given the requests and returning
//! one result per request, in the same order (matching Halo's answers to requests is the
//! closure's business, by reference, never by position).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::http::budget::Priority;
use crate::http::{Deadline, System, UpstreamError};

/// A batch's work: the requests in, one result each out.
pub(crate) type Work<R, T> = Arc<
    dyn Fn(Vec<R>, Deadline, Priority) -> Pin<Box<dyn Future<Output = Vec<T>> + Send>>
        + Send
        + Sync,
>;

struct Entry<R, T> {
    request: R,
    priority: Priority,
    arrival: u64,
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
        }
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
                deadline,
                answer,
            });
            !std::mem::replace(&mut state.leading, true)
        };
        if lead {
            tokio::spawn(lead_batches(self.state.clone(), self.max, work));
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
    work: Work<R, T>,
) {
    loop {
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
    use std::time::Duration;

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
