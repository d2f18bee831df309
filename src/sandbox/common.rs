//! Pieces both fakes share: the request log, injected faults (including connection resets), a
//! rolling-window rate limiter, delays, outages, and server start-up.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

/// Request bodies longer than this are cut in the log, so a large payload cannot bloat it.
const MAX_LOGGED_BODY: usize = 4096;

/// One request a fake received, as it arrived, with the status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path as received (still percent-encoded).
    pub path: String,
    /// Raw query string without the `?`.
    pub query: String,
    /// Status code of the answer; 0 when the connection was reset instead (see [`Fault::reset`]).
    pub status: u16,
    /// Request body as text (lossy UTF-8), at most 4 KiB.
    pub body: String,
}

/// A canned answer that replaces the next request matching `method` and `path_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Method to match (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// Path prefix to match (case-insensitive); `None` matches any.
    pub path_prefix: Option<String>,
    /// Status code to answer with.
    pub status: u16,
    /// Value of a `Retry-After` header, when one should be sent.
    pub retry_after: Option<String>,
    /// Response body; sent as JSON when it parses as JSON, else as plain text.
    pub body: String,
    /// Abort the connection instead of answering: the client sees a transport error, not a status.
    ///
    /// The fake starts a `200` response with a streaming body whose first chunk is an error, so
    /// actix drops the connection before a complete response goes out. `status`, `retry_after`
    /// and `body` are ignored. The request is logged with status 0.
    pub reset: bool,
}

impl Fault {
    /// A fault for any request, answering `status` with `body`.
    pub fn any(status: u16, body: impl Into<String>) -> Fault {
        Fault {
            method: None,
            path_prefix: None,
            status,
            retry_after: None,
            body: body.into(),
            reset: false,
        }
    }

    /// A fault for requests with this method and path prefix.
    pub fn on(method: &str, path_prefix: &str, status: u16, body: impl Into<String>) -> Fault {
        Fault {
            method: Some(method.to_owned()),
            path_prefix: Some(path_prefix.to_owned()),
            ..Fault::any(status, body)
        }
    }

    /// A connection reset for the next request with this method and path prefix.
    pub fn reset_on(method: &str, path_prefix: &str) -> Fault {
        Fault {
            reset: true,
            ..Fault::on(method, path_prefix, 200, "")
        }
    }

    /// The same fault with a `Retry-After` header.
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Fault {
        self.retry_after = Some(value.into());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = self
            .path_prefix
            .as_deref()
            .is_none_or(|p| starts_with_ignore_case(path, p));
        method_ok && path_ok
    }

    fn response(&self) -> HttpResponse {
        if self.reset {
            return reset_response();
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = HttpResponse::build(status);
        if let Some(retry_after) = &self.retry_after {
            resp.insert_header((RETRY_AFTER, retry_after.as_str()));
        }
        let content_type = if serde_json::from_str::<Value>(&self.body).is_ok() {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        resp.insert_header((CONTENT_TYPE, content_type))
            .body(self.body.clone())
    }
}

/// Marks a response built by [`reset_response`], so the log records status 0.
#[derive(Debug, Clone, Copy)]
struct ResetMarker;

/// A response that makes the client see a broken connection: the body stream fails at once, and
/// actix aborts the connection (no chunk, no terminating zero-length chunk, so no valid response).
fn reset_response() -> HttpResponse {
    let chunks = futures_util::stream::iter([Err::<Bytes, io::Error>(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "sandbox fault: connection reset",
    ))]);
    let mut response = HttpResponse::Ok().streaming(chunks);
    response.extensions_mut().insert(ResetMarker);
    response
}

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
struct Limiter {
    limit: RateLimit,
    arrivals: VecDeque<Instant>,
}

impl Limiter {
    /// Counts a request arriving `now`, or answers the `429` it gets instead.
    fn admit(&mut self, now: Instant) -> Option<HttpResponse> {
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

/// Knobs that change how a fake answers, plus its request log.
#[derive(Debug, Default)]
struct GateState {
    delay: Duration,
    down: bool,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
    limiter: Option<Limiter>,
    rate_limited: usize,
}

/// The part of a fake between the socket and its business logic.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        // A panicking test must not wedge every later request, so a poisoned lock is still used.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies the rate limit, then delay, outage and queued faults, in that order; `Some` is the
    /// answer to send instead of serving.
    pub(crate) async fn intercept(
        &self,
        method: &str,
        path: &str,
        down_body: Value,
    ) -> Option<HttpResponse> {
        let delay = {
            let mut state = self.lock();
            // Taken under the lock, so arrivals enter the window in order.
            let now = Instant::now();
            if let Some(limited) = state.limiter.as_mut().and_then(|l| l.admit(now)) {
                state.rate_limited += 1;
                return Some(limited);
            }
            state.delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.lock();
        if state.down {
            return Some(json(503, down_body));
        }
        let index = state.faults.iter().position(|f| f.matches(method, path))?;
        state.faults.remove(index).map(|fault| fault.response())
    }

    /// Appends a request and the status it got to the log (0 for a connection reset).
    pub(crate) fn record(&self, req: &HttpRequest, body: &[u8], response: &HttpResponse) {
        let reset = response.extensions().get::<ResetMarker>().is_some();
        let entry = RecordedRequest {
            method: req.method().as_str().to_owned(),
            path: req.uri().path().to_owned(),
            query: req.query_string().to_owned(),
            status: if reset { 0 } else { response.status().as_u16() },
            body: truncated_text(body),
        };
        self.lock().requests.push(entry);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Logged requests with this method (case-insensitive) whose path starts with `path_prefix`.
    pub(crate) fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| {
                r.method.eq_ignore_ascii_case(method)
                    && starts_with_ignore_case(&r.path, path_prefix)
            })
            .count()
    }

    /// Logged requests whose path starts with `path_prefix`, any method.
    pub(crate) fn count_path(&self, path_prefix: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| starts_with_ignore_case(&r.path, path_prefix))
            .count()
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub(crate) fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Sets or lifts the rate limit; either way the window starts empty.
    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.lock().limiter = limit.map(|limit| Limiter {
            limit,
            arrivals: VecDeque::new(),
        });
    }

    pub(crate) fn rate_limited_count(&self) -> usize {
        self.lock().rate_limited
    }
}

/// Locks a fake's state, tolerating poison for the same reason as [`Gate::lock`].
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON response with the given status (500 if the code is invalid).
pub(crate) fn json(status: u16, body: Value) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(body)
}

/// A plain-text response: Halo answers some validation failures with a bare human message.
pub(crate) fn text(status: u16, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(message.to_owned())
}

/// ASCII case-insensitive `starts_with`.
pub(crate) fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn truncated_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_LOGGED_BODY {
        return text.into_owned();
    }
    let mut end = MAX_LOGGED_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The port a freshly bound server listens on.
pub(crate) fn bound_port(addrs: &[SocketAddr]) -> io::Result<u16> {
    addrs
        .first()
        .map(SocketAddr::port)
        .ok_or_else(|| io::Error::other("server bound no address"))
}

/// Runs a bound server on the current tokio runtime and returns its stop handle.
pub(crate) fn spawn(server: Server) -> ServerHandle {
    let handle = server.handle();
    tokio::spawn(async move {
        if let Err(err) = server.await {
            tracing::warn!(error = %err, "sandbox server stopped with an error");
        }
    });
    handle
}

/// Now as Halo writes it: RFC 3339, UTC, seven fractional digits (`2026-04-22T15:20:00.0000000Z`).
pub(crate) fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(since_epoch)
}

fn format_rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_nanos() / 100
    )
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_halo_style_timestamps() {
        assert_eq!(
            format_rfc3339(Duration::from_secs(0)),
            "1970-01-01T00:00:00.0000000Z"
        );
        let t = Duration::new(1_776_870_000, 123_456_700);
        assert_eq!(format_rfc3339(t), "2026-04-22T15:00:00.1234567Z");
        assert_eq!(
            format_rfc3339(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.0000000Z"
        );
    }

    #[test]
    fn fault_matching_is_case_insensitive_and_optional() {
        let f = Fault::on("post", "/api/tickets", 500, "x");
        assert!(f.matches("POST", "/api/Tickets"));
        assert!(!f.matches("GET", "/api/Tickets"));
        assert!(Fault::any(503, "").matches("PUT", "/whatever"));
    }

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

    #[test]
    fn reset_faults_keep_other_constructors_plain() {
        assert!(!Fault::any(500, "").reset);
        assert!(!Fault::on("GET", "/", 500, "").reset);
        let reset = Fault::reset_on("post", "/api/actions");
        assert!(reset.reset && reset.matches("POST", "/api/Actions"));
        let resp = reset.response();
        assert!(resp.extensions().get::<ResetMarker>().is_some());
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(3000);
        let cut = truncated_text(body.as_bytes());
        assert!(cut.len() <= MAX_LOGGED_BODY);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
