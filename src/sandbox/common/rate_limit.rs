//! A rolling-window rate limiter, as Halo applies per tenant.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};

/// A rolling-window rate limit, as Halo applies per tenant (`reference/halo.md` §7).
///
/// Requests are counted by the time they reach the fake, before any delay, outage or fault is
/// applied, so those knobs neither hide requests from the limiter nor slow its answers: a request
/// over the limit is answered `429` at once, as a gateway in front of the API would. A request
/// answered `429` by the limiter does not count toward the window (real limiters differ; this is
/// the lenient variant, so a client that backs off is not punished for its rejected attempts).
/// Requests answered by an outage or a queued fault do count: they got past the limiter.
///
/// The fake sees arrival times while a client paces itself by send times, and loopback latency
/// varies (the first request of a connection is slower). So a counted request leaves the window
/// after `window - slack`, where `slack` is a fifth of the window, at most 250 ms: a client that
/// never sends more than `calls` requests within any `window` never sees a `429`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed within any trailing `window`.
    pub calls: u32,
    /// Length of the rolling window.
    pub window: Duration,
    /// Send `Retry-After`: whole seconds until the oldest counted request leaves the window (≥ 1).
    pub retry_after: bool,
}

impl RateLimit {
    /// How long a counted request stays in the window: `window` less the latency slack.
    fn effective_window(&self) -> Duration {
        let slack = (self.window / 5).min(Duration::from_millis(250));
        self.window - slack
    }

    /// Halo's message: `Rate Limit Reached - 300 Requests per rolling 5 minute window`.
    fn message(&self) -> String {
        format!(
            "Rate Limit Reached - {} Requests per rolling {} window",
            self.calls,
            window_text(self.window)
        )
    }
}

/// `5 minute`, `30 second`, `300 millisecond`: the largest unit that divides the window exactly.
fn window_text(window: Duration) -> String {
    let millis = window.as_millis();
    if millis > 0 && millis.is_multiple_of(60_000) {
        format!("{} minute", millis / 60_000)
    } else if millis > 0 && millis.is_multiple_of(1000) {
        format!("{} second", millis / 1000)
    } else {
        format!("{millis} millisecond")
    }
}

/// The limiter's state: the limit and the arrival times of the requests it counted.
#[derive(Debug)]
pub(super) struct Limiter {
    limit: RateLimit,
    arrivals: VecDeque<Instant>,
}

impl Limiter {
    /// A limiter whose window starts empty.
    pub(super) fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            arrivals: VecDeque::new(),
        }
    }

    /// Counts a request arriving `now`, or answers the `429` it gets instead.
    pub(super) fn admit(&mut self, now: Instant) -> Option<HttpResponse> {
        let stay = self.limit.effective_window();
        while self
            .arrivals
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= stay)
        {
            self.arrivals.pop_front();
        }
        if self.arrivals.len() < self.limit.calls as usize {
            self.arrivals.push_back(now);
            return None;
        }
        let mut resp = HttpResponse::TooManyRequests();
        if self.limit.retry_after {
            let leaves = self.arrivals.front().map_or(now + stay, |&t| t + stay);
            let wait = leaves.saturating_duration_since(now);
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            resp.insert_header((RETRY_AFTER, secs.to_string()));
        }
        Some(
            resp.insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body(self.limit.message()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(calls: u32, window: Duration, retry_after: bool) -> Limiter {
        Limiter {
            limit: RateLimit {
                calls,
                window,
                retry_after,
            },
            arrivals: VecDeque::new(),
        }
    }

    fn retry_after(resp: &HttpResponse) -> Option<String> {
        resp.headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().expect("ASCII").to_owned())
    }

    #[test]
    fn limiter_admits_calls_per_window_and_rejections_do_not_count() {
        let t0 = Instant::now();
        let secs = |s: u64| t0 + Duration::from_millis(s);
        // 2 calls per 10 s: a counted request stays 9.75 s (250 ms latency slack).
        let mut l = limiter(2, Duration::from_secs(10), true);
        assert!(l.admit(secs(0)).is_none());
        assert!(l.admit(secs(1000)).is_none());
        let rejected = l.admit(secs(2000)).expect("third call is over the limit");
        assert_eq!(rejected.status(), 429);
        assert_eq!(retry_after(&rejected).as_deref(), Some("8")); // ceil(9.75 - 2)
        assert_eq!(l.arrivals.len(), 2, "a 429 does not count");
        let rejected = l.admit(secs(9_700)).expect("oldest is still in the window");
        assert_eq!(retry_after(&rejected).as_deref(), Some("1"), "at least 1");
        assert!(l.admit(secs(9_750)).is_none(), "oldest has left the window");
        assert!(l.admit(secs(10_000)).is_some());

        let mut quiet = limiter(1, Duration::from_secs(10), false);
        assert!(quiet.admit(secs(0)).is_none());
        assert_eq!(retry_after(&quiet.admit(secs(1)).expect("429")), None);
        let mut closed = limiter(0, Duration::from_millis(300), true);
        assert_eq!(
            retry_after(&closed.admit(secs(0)).expect("429")).as_deref(),
            Some("1")
        );
    }

    #[test]
    fn limit_messages_read_like_halo() {
        let limit = |window| RateLimit {
            calls: 300,
            window,
            retry_after: false,
        };
        assert_eq!(
            limit(Duration::from_secs(300)).message(),
            "Rate Limit Reached - 300 Requests per rolling 5 minute window"
        );
        assert_eq!(
            window_text(Duration::from_secs(90)),
            "90 second",
            "not a whole number of minutes"
        );
        assert_eq!(window_text(Duration::from_millis(300)), "300 millisecond");
        assert_eq!(
            limit(Duration::from_millis(300)).effective_window(),
            Duration::from_millis(240)
        );
        assert_eq!(
            limit(Duration::from_secs(300)).effective_window(),
            Duration::from_millis(299_750)
        );
    }
}
