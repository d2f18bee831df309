//! Injected faults: a canned answer, or a connection reset, for the next matching request.

use std::io;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::web::Bytes;
use serde_json::Value;

use super::starts_with_ignore_case;

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
    /// Answer every matching request this way, not only the next (a resource that fails for
    /// good: a deleted incident, a removed role).
    pub forever: bool,
    /// Hold the request this long before answering (an upstream that is still working on it).
    pub hold: std::time::Duration,
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
            forever: false,
            hold: std::time::Duration::ZERO,
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

    /// The same fault, answered only after `hold`.
    pub fn held(mut self, hold: std::time::Duration) -> Fault {
        self.hold = hold;
        self
    }

    /// The same fault for every matching request from now on.
    pub fn forever(mut self) -> Fault {
        self.forever = true;
        self
    }

    /// The same fault with a `Retry-After` header.
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Fault {
        self.retry_after = Some(value.into());
        self
    }

    pub(super) fn matches(&self, method: &str, path: &str) -> bool {
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

    pub(super) fn response(&self) -> HttpResponse {
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
pub(super) struct ResetMarker;

/// A response that makes the client see a broken connection: the body stream fails at once, and
/// actix aborts the connection (no chunk, no terminating zero-length chunk, so no valid response).
pub(crate) fn reset_response() -> HttpResponse {
    let chunks = futures_util::stream::iter([Err::<Bytes, io::Error>(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "sandbox fault: connection reset",
    ))]);
    let mut response = HttpResponse::Ok().streaming(chunks);
    response.extensions_mut().insert(ResetMarker);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_matching_is_case_insensitive_and_optional() {
        let f = Fault::on("post", "/api/tickets", 500, "x");
        assert!(f.matches("POST", "/api/Tickets"));
        assert!(!f.matches("GET", "/api/Tickets"));
        assert!(Fault::any(503, "").matches("PUT", "/whatever"));
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
}
