//! The part of a fake between the socket and its business logic: the request log and the knobs
//! that change how it answers (rate limit, delay, outage, queued faults).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::fault::{Fault, ResetMarker};
use super::rate_limit::{Limiter, RateLimit};
use super::{json, lock, starts_with_ignore_case};

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
        lock(&self.state)
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
        let fault = {
            let mut state = self.lock();
            if state.down {
                return Some(json(503, down_body));
            }
            let index = state.faults.iter().position(|f| f.matches(method, path))?;
            if state.faults[index].forever {
                state.faults[index].clone()
            } else {
                state.faults.remove(index)?
            }
        };
        if !fault.hold.is_zero() {
            tokio::time::sleep(fault.hold).await;
        }
        Some(fault.response())
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

    pub(crate) fn clear_faults(&self) {
        self.lock().faults.retain(|f| f.forever);
    }

    pub(crate) fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Sets or lifts the rate limit; either way the window starts empty.
    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.lock().limiter = limit.map(Limiter::new);
    }

    pub(crate) fn rate_limited_count(&self) -> usize {
        self.lock().rate_limited
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(3000);
        let cut = truncated_text(body.as_bytes());
        assert!(cut.len() <= MAX_LOGGED_BODY);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
