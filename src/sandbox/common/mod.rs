//! Pieces both fakes share: the server scaffolding, the gate in front of it (request log, delays,
//! outages, injected faults, a rolling-window rate limiter), and small response helpers.

mod fault;
mod gate;
mod rate_limit;
#[cfg(test)]
mod receiver;
mod server;
mod time;

use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use serde_json::Value;

pub use fault::Fault;
pub(crate) use fault::reset_response;
pub(crate) use gate::Gate;
pub use gate::RecordedRequest;
pub use rate_limit::RateLimit;
pub use server::FakeServer;
pub(crate) use server::Service;
// Tests stand up throwaway servers (e.g. a webhook receiver) next to a fake.
#[cfg(test)]
pub(crate) use receiver::{Captured, receiver};
#[cfg(test)]
pub(crate) use server::{bound_port, spawn};
pub(crate) use time::now_rfc3339;

/// Sends a webhook the way a fake's emitter does: the receiver's status and its body as JSON
/// (`Null` when not JSON), or why it could not be delivered.
pub(crate) async fn deliver(request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("webhook delivery failed: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("webhook response unreadable: {e}"))?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Locks a fake's state, tolerating poison: a panicking test must not wedge every later request.
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
