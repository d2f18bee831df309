//! One retry policy for the Halo and ContraForce clients: exponential backoff with full
//! jitter, the upstream's `Retry-After` honoured, never past the request deadline.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use rand::Rng as _;

use super::{Deadline, MAX_RETRY_AFTER_SECS, UpstreamError};

/// Whether sending a request twice could do its work twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and idempotent writes: retried after any transient failure.
    Safe,
    /// Creates, notes and comments: retried only when the first attempt certainly had no effect.
    Unsafe,
}

/// Backoff schedule of the retry policy.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First backoff ceiling.
    pub min_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Whether this failure may be retried for a request of this kind.
pub fn retryable(error: &UpstreamError, idempotency: Idempotency) -> bool {
    match error {
        UpstreamError::Unavailable { not_processed, .. } => {
            idempotency == Idempotency::Safe || *not_processed
        }
        _ => false,
    }
}

/// Full jitter: a uniformly random wait between zero and the backoff ceiling.
fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

/// The wait before the next attempt, or `None` to stop: the upstream's `Retry-After` wins over
/// the backoff, and a wait that would end past the deadline is not taken.
fn next_wait(
    error: &UpstreamError,
    backoff: Option<Duration>,
    deadline: Deadline,
) -> Option<Duration> {
    let wait = match error.retry_after() {
        Some(secs) => Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)),
        None => full_jitter(backoff?),
    };
    (wait < deadline.remaining()).then_some(wait)
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails for good, runs out of retries, or the next wait
    /// would pass the deadline; the last failure is returned.
    pub async fn run<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        deadline: Deadline,
        attempt: F,
    ) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries);
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| retryable(e, idempotency))
            .adjust(|e, backoff| next_wait(e, backoff, deadline))
            .notify(
                |e, wait| tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "retrying"),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::http::System;

    fn down(retry_after: Option<u64>, not_processed: bool) -> UpstreamError {
        UpstreamError::Unavailable {
            system: System::Halo,
            retry_after,
            not_processed,
            reason: "test".into(),
        }
    }

    async fn attempts(
        policy: RetryPolicy,
        idem: Idempotency,
        deadline: Deadline,
        errors: Vec<UpstreamError>,
    ) -> (usize, Result<u8, UpstreamError>) {
        let calls = AtomicUsize::new(0);
        let result = policy
            .run(idem, deadline, || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let outcome = errors.get(n).cloned().map_or(Ok(7), Err);
                async move { outcome }
            })
            .await;
        (calls.load(Ordering::SeqCst), result)
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_of_reads_are_retried_until_success() {
        let errors = vec![down(None, false), down(None, false), down(None, true)];
        let (n, result) = attempts(
            RetryPolicy::default(),
            Idempotency::Safe,
            Deadline::after(Duration::from_secs(20)),
            errors,
        )
        .await;
        assert_eq!((n, result), (4, Ok(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_the_limit_with_the_last_failure() {
        let errors = vec![down(None, false); 10];
        let (n, result) = attempts(
            RetryPolicy::default(),
            Idempotency::Safe,
            Deadline::after(Duration::from_secs(60)),
            errors,
        )
        .await;
        assert_eq!(n, 4);
        assert!(result.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn unsafe_writes_are_retried_only_when_certainly_not_processed() {
        let deadline = Deadline::after(Duration::from_secs(20));
        let (n, _) = attempts(
            RetryPolicy::default(),
            Idempotency::Unsafe,
            deadline,
            vec![down(None, false)],
        )
        .await;
        assert_eq!(n, 1, "a timeout or 500 on a create is not blindly repeated");
        let (n, result) = attempts(
            RetryPolicy::default(),
            Idempotency::Unsafe,
            deadline,
            vec![down(Some(1), true)],
        )
        .await;
        assert_eq!((n, result), (2, Ok(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn other_4xx_are_never_retried() {
        let rejected = UpstreamError::Rejected {
            system: System::Halo,
            status: 400,
            detail: "no".into(),
        };
        let unauthorized = UpstreamError::Unauthorized {
            system: System::ContraForce,
            detail: "no".into(),
        };
        for e in [
            rejected,
            unauthorized,
            UpstreamError::NotFound {
                system: System::Halo,
                detail: String::new(),
            },
        ] {
            let (n, _) = attempts(
                RetryPolicy::default(),
                Idempotency::Safe,
                Deadline::after(Duration::from_secs(20)),
                vec![e],
            )
            .await;
            assert_eq!(n, 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_a_wait_past_the_deadline_is_not_taken() {
        let start = tokio::time::Instant::now();
        let (n, result) = attempts(
            RetryPolicy::default(),
            Idempotency::Safe,
            Deadline::after(Duration::from_secs(20)),
            vec![down(Some(7), true)],
        )
        .await;
        assert_eq!((n, result), (2, Ok(7)));
        assert_eq!(start.elapsed().as_secs(), 7);

        let start = tokio::time::Instant::now();
        let (n, result) = attempts(
            RetryPolicy::default(),
            Idempotency::Safe,
            Deadline::after(Duration::from_secs(5)),
            vec![down(Some(30), true)],
        )
        .await;
        assert_eq!(n, 1);
        assert_eq!(
            result.unwrap_err().retry_after(),
            Some(30),
            "the 503 passes the upstream's wait on"
        );
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "no waiting when the wait cannot fit"
        );
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        for _ in 0..1000 {
            assert!(full_jitter(Duration::from_millis(200)) <= Duration::from_millis(200));
        }
    }
}
