//! Pieces both fakes share: the request log, injected faults, delays, outages, and server start-up.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
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
    /// Status code of the answer.
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

/// Knobs that change how a fake answers, plus its request log.
#[derive(Debug, Default)]
struct GateState {
    delay: Duration,
    down: bool,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
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

    /// Applies delay, outage and queued faults; `Some` is the answer to send instead of serving.
    pub(crate) async fn intercept(
        &self,
        method: &str,
        path: &str,
        down_body: Value,
    ) -> Option<HttpResponse> {
        let delay = self.lock().delay;
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

    /// Appends a request and the status it got to the log.
    pub(crate) fn record(&self, req: &HttpRequest, body: &[u8], status: StatusCode) {
        let entry = RecordedRequest {
            method: req.method().as_str().to_owned(),
            path: req.uri().path().to_owned(),
            query: req.query_string().to_owned(),
            status: status.as_u16(),
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

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(3000);
        let cut = truncated_text(body.as_bytes());
        assert!(cut.len() <= MAX_LOGGED_BODY);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
