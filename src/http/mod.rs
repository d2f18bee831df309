//! What both outbound clients share: the request deadline, failure classification,
//! `Retry-After` handling (CONTRACT §7), the retry policy and Halo's call budget.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::time::Instant;

pub mod budget;
pub mod retry;

/// Longest `Retry-After` we pass on or honour, in seconds.
pub const MAX_RETRY_AFTER_SECS: u64 = 300;
/// `Retry-After` when nothing better is known.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 30;
/// Longest an outbound call may take even when the deadline allows more.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest an error body is kept for a `detail`.
const MAX_DETAIL_CHARS: usize = 500;

/// The upstream a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// HaloPSA (API or token endpoint).
    Halo,
    /// ContraForce.
    ContraForce,
}

/// A failed upstream call, classified for the webhook's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Try later: unreachable, timeout, 408, 429, 5xx, an auth failure, or the deadline.
    #[error("{system:?} unavailable: {reason}")]
    Unavailable {
        /// Which upstream.
        system: System,
        /// The upstream's own `Retry-After` (or our budget's wait), in seconds.
        retry_after: Option<u64>,
        /// The request certainly had no effect (never sent, refused, 429, 503 with
        /// `Retry-After`), so even a non-idempotent call may be sent again.
        not_processed: bool,
        /// For the log.
        reason: String,
    },
    /// Our configuration is wrong (Halo refused the token request, or a fresh token): answered
    /// 503 like an outage, but never retried within the request.
    #[error("{system:?} refused our credentials: {detail}")]
    Misconfigured {
        /// Which upstream.
        system: System,
        /// The upstream's message.
        detail: String,
    },
    /// 401 from the upstream (Halo: refresh the token once; ContraForce: bad credentials).
    #[error("{system:?} answered 401")]
    Unauthorized {
        /// Which upstream.
        system: System,
        /// The upstream's message.
        detail: String,
    },
    /// A reconcile run's share of the Halo budget is used up: the run stops (never retried, never
    /// waited for) and the next run resumes.
    #[error("the reconcile budget share is used up for {retry_after} s")]
    ShareUsed {
        /// Seconds until the share has room again.
        retry_after: u64,
    },
    /// 404.
    #[error("{system:?} answered 404")]
    NotFound {
        /// Which upstream.
        system: System,
        /// Its message (empty when it sent none).
        detail: String,
    },
    /// Another 4xx: the upstream will never accept this request as it is.
    #[error("{system:?} rejected the request ({status}): {detail}")]
    Rejected {
        /// Which upstream.
        system: System,
        /// Its status code.
        status: u16,
        /// Its message.
        detail: String,
    },
}

impl UpstreamError {
    /// An `Unavailable` for a request that never reached the upstream.
    pub fn unavailable(system: System, reason: impl Into<String>) -> Self {
        Self::Unavailable {
            system,
            retry_after: None,
            not_processed: true,
            reason: reason.into(),
        }
    }

    /// An `Unavailable` for a request the upstream may have acted on.
    pub fn unavailable_after_send(system: System, reason: impl Into<String>) -> Self {
        Self::Unavailable {
            system,
            retry_after: None,
            not_processed: false,
            reason: reason.into(),
        }
    }

    /// The wait the upstream (or our budget) asked for, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable { retry_after, .. } => *retry_after,
            Self::ShareUsed { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// When one webhook's upstream work must be finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// The instant itself.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left (zero once passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub fn passed(self) -> bool {
        self.remaining().is_zero()
    }
}

/// Clamps a wait to a whole number of seconds in 1..=300.
pub fn clamp_retry_after(secs: u64) -> u64 {
    secs.clamp(1, MAX_RETRY_AFTER_SECS)
}

/// Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// A readable message from an upstream error body: an RFC 7807 problem document or an
/// `{"error":{"code","message"}}` object as `"<code>: <detail or title or message>"` (CONTRACT
/// §8.5), else JSON `Message`/`message`/`error`… or the text itself.
pub fn error_detail(body: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => coded(&o).unwrap_or_else(|| {
            [
                "Message",
                "message",
                "error_description",
                "error",
                "title",
                "detail",
            ]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()).map(str::to_string))
            .unwrap_or_else(|| body.to_string())
        }),
        _ => body.to_string(),
    };
    let text = text.trim();
    crate::text::truncate_chars(text, MAX_DETAIL_CHARS).to_string()
}

/// `"<code>: <message>"` of a problem document (`code` beside `detail`/`title`) or of an
/// `{"error":{"code","message"}}` body.
fn coded(o: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let text = |o: &serde_json::Map<String, serde_json::Value>, k: &str| {
        o.get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (code, message) = match o.get("error") {
        Some(serde_json::Value::Object(inner)) => (text(inner, "code")?, text(inner, "message")),
        _ => (
            text(o, "code")?,
            text(o, "detail").or_else(|| text(o, "title")),
        ),
    };
    Some(match message {
        Some(m) => format!("{code}: {m}"),
        None => code,
    })
}

/// Sends one request within the deadline and classifies anything but a 2xx.
pub async fn send(
    system: System,
    request: RequestBuilder,
    deadline: Deadline,
) -> Result<Response, UpstreamError> {
    let remaining = deadline.remaining();
    if remaining.is_zero() {
        return Err(UpstreamError::unavailable(
            system,
            "request deadline passed",
        ));
    }
    let response = request
        .timeout(remaining.min(CALL_TIMEOUT))
        .send()
        .await
        .map_err(|e| {
            // Only a refused connection proves the request never arrived.
            let not_processed = e.is_connect();
            UpstreamError::Unavailable {
                system,
                retry_after: None,
                not_processed,
                reason: transport_reason(e),
            }
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response.text().await.unwrap_or_default();
    Err(classify(system, status, retry_after, &body))
}

fn transport_reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        // Without the URL: it may carry a SAS token or a reference.
        e.without_url().to_string()
    }
}

/// Maps a non-2xx status to the contract's classes.
pub fn classify(
    system: System,
    status: StatusCode,
    retry_after: Option<u64>,
    body: &str,
) -> UpstreamError {
    match status.as_u16() {
        401 => UpstreamError::Unauthorized {
            system,
            detail: error_detail(body),
        },
        404 => UpstreamError::NotFound {
            system,
            detail: error_detail(body),
        },
        code @ (408 | 429 | 500..=599) => UpstreamError::Unavailable {
            system,
            retry_after,
            // 429 and 503-with-Retry-After are refusals: the upstream did not act on the request.
            not_processed: code == 429 || (code == 503 && retry_after.is_some()),
            reason: format!("status {status}"),
        },
        code => UpstreamError::Rejected {
            system,
            status: code,
            detail: error_detail(body),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 120 "), Some(120));
        let later = std::time::SystemTime::now() + Duration::from_secs(90);
        let secs = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!((88..=90).contains(&secs), "{secs}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(clamp_retry_after(0), 1);
        assert_eq!(clamp_retry_after(9999), 300);
    }

    #[test]
    fn error_details_come_from_halo_and_oauth_shapes() {
        assert_eq!(
            error_detail(r#"{"ClassName":"X","Message":"Please select a valid Ticket Type"}"#),
            "Please select a valid Ticket Type"
        );
        assert_eq!(
            error_detail(r#"{"error":"invalid_client","error_description":"bad secret"}"#),
            "bad secret"
        );
        assert_eq!(
            error_detail(r#""An Outcome must be entered""#),
            "An Outcome must be entered"
        );
        assert_eq!(error_detail("plain text"), "plain text");
    }

    #[test]
    fn problem_documents_name_their_code() {
        let problem = r#"{"type":"https://docs.contraforce.com/errors/x","title":"Forbidden","status":403,
            "detail":"The service account has no role on workspace ws-1.","code":"INSUFFICIENT_WORKSPACE_ROLE"}"#;
        assert_eq!(
            error_detail(problem),
            "INSUFFICIENT_WORKSPACE_ROLE: The service account has no role on workspace ws-1."
        );
        assert_eq!(
            error_detail(r#"{"title":"Not Found","status":404,"code":"INCIDENT_NOT_FOUND"}"#),
            "INCIDENT_NOT_FOUND: Not Found"
        );
        assert_eq!(
            error_detail(r#"{"error":{"code":"SecretNotFound","message":"not found"}}"#),
            "SecretNotFound: not found"
        );
        assert_eq!(error_detail(r#"{"code":"X"}"#), "X");
    }

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        let c = |s: u16| classify(System::Halo, StatusCode::from_u16(s).unwrap(), None, "");
        for s in [408, 429, 500, 502, 503] {
            assert!(matches!(c(s), UpstreamError::Unavailable { .. }), "{s}");
        }
        assert!(matches!(c(401), UpstreamError::Unauthorized { .. }));
        assert!(matches!(c(404), UpstreamError::NotFound { .. }));
        assert!(matches!(
            c(400),
            UpstreamError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            c(403),
            UpstreamError::Rejected { status: 403, .. }
        ));
    }
}
