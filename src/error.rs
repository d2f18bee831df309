//! Every error answer of both functions, mapped to its status and JSON body in one place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::http::{DEFAULT_RETRY_AFTER_SECS, System, UpstreamError, clamp_retry_after};
use crate::secrets::Unresolved;
use crate::state::StateError;

/// An answer other than 200.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Body over `MAX_BODY_BYTES`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Required settings are missing.
    #[error("not configured: {0:?}")]
    NotConfigured(Vec<String>),
    /// Secrets are still loading or their source is unreachable.
    #[error("secrets unavailable")]
    SecretsUnavailable,
    /// ContraForce signature check failed.
    #[error("invalid signature")]
    InvalidSignature,
    /// Halo webhook authentication failed.
    #[error("invalid callback secret")]
    InvalidCallbackSecret,
    /// `X-CF-Event-Id` missing.
    #[error("missing X-CF-Event-Id")]
    MissingEventId,
    /// The body is not what the contract expects.
    #[error("malformed payload")]
    Malformed {
        /// The offending field, when one can be named.
        detail: Option<String>,
    },
    /// `X-CF-Schema` disagrees with the body's `type`.
    #[error("schema mismatch")]
    SchemaMismatch,
    /// Try again later (upstream or state store down, deadline, busy claim).
    #[error("upstream unavailable (retry after {retry_after}s)")]
    Unavailable {
        /// Whole seconds for `Retry-After`.
        retry_after: u64,
        /// What is unavailable: a reconcile run goes on past one upstream item's failure, but
        /// not past the store's or its spent budget share (CONTRACT §13).
        cause: Cause,
    },
    /// Halo refused the request for good.
    #[error("halo rejected the request: {0}")]
    HaloRejected(String),
    /// ContraForce refused the request for good.
    #[error("contraforce rejected the request: {0}")]
    ContraForceRejected(String),
}

/// Why a 503 is a 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Halo or ContraForce, a busy claim, or the deadline: this item, now.
    Upstream,
    /// The state store cannot be reached.
    Store,
    /// A reconcile run spent its share of Halo's budget.
    Share,
}

impl ApiError {
    /// 503 with the usual wait.
    pub fn unavailable() -> Self {
        Self::Unavailable {
            retry_after: DEFAULT_RETRY_AFTER_SECS,
            cause: Cause::Upstream,
        }
    }

    /// A 503 of this item, with this wait.
    pub fn unavailable_for(retry_after: u64) -> Self {
        Self::Unavailable {
            retry_after: clamp_retry_after(retry_after),
            cause: Cause::Upstream,
        }
    }

    /// Whether this failure stops a whole reconcile run (the store is down, or the run's share of
    /// the budget is spent) rather than only the item that met it.
    pub fn stops_run(&self) -> bool {
        matches!(
            self,
            Self::Unavailable {
                cause: Cause::Store | Cause::Share,
                ..
            }
        )
    }

    /// The `Retry-After` of a 503, if this is one.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable { retry_after, .. } => Some(*retry_after),
            Self::NotConfigured(_) | Self::SecretsUnavailable => Some(DEFAULT_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Unavailable { retry_after, .. } => {
                Self::unavailable_for(retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS))
            }
            UpstreamError::Misconfigured { .. } => Self::unavailable(),
            UpstreamError::ShareUsed { retry_after } => Self::Unavailable {
                retry_after: clamp_retry_after(retry_after),
                cause: Cause::Share,
            },
            // Halo's 401 is turned into Misconfigured by the client; ContraForce's means bad credentials.
            UpstreamError::Unauthorized {
                system: System::Halo,
                ..
            } => Self::unavailable(),
            UpstreamError::Unauthorized {
                system: System::ContraForce,
                detail,
            } => Self::ContraForceRejected(detail),
            UpstreamError::NotFound {
                system: System::Halo,
                ..
            } => Self::HaloRejected("not found".into()),
            UpstreamError::NotFound {
                system: System::ContraForce,
                detail,
            } if !detail.is_empty() => Self::ContraForceRejected(detail),
            UpstreamError::NotFound {
                system: System::ContraForce,
                ..
            } => Self::ContraForceRejected("not found".into()),
            UpstreamError::Rejected {
                system: System::Halo,
                detail,
                ..
            } => Self::HaloRejected(detail),
            UpstreamError::Rejected {
                system: System::ContraForce,
                detail,
                ..
            } => Self::ContraForceRejected(detail),
        }
    }
}

impl From<Unresolved> for ApiError {
    fn from(e: Unresolved) -> Self {
        match e {
            Unresolved::Loading => Self::SecretsUnavailable,
            Unresolved::Missing(names) => Self::NotConfigured(names),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Busy { retry_after, .. } => Self::unavailable_for(retry_after),
            StateError::Unavailable(_) => Self::Unavailable {
                retry_after: DEFAULT_RETRY_AFTER_SECS,
                cause: Cause::Store,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotConfigured(_) | Self::SecretsUnavailable | Self::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::InvalidSignature | Self::InvalidCallbackSecret => StatusCode::UNAUTHORIZED,
            Self::MissingEventId | Self::Malformed { .. } | Self::SchemaMismatch => {
                StatusCode::BAD_REQUEST
            }
            Self::HaloRejected(_) | Self::ContraForceRejected(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::PayloadTooLarge => json!({"error": "payload too large"}),
            Self::NotConfigured(missing) => json!({"error": "not configured", "missing": missing}),
            Self::SecretsUnavailable => json!({"error": "secrets unavailable"}),
            Self::InvalidSignature => json!({"error": "invalid signature"}),
            Self::InvalidCallbackSecret => json!({"error": "invalid callback secret"}),
            Self::MissingEventId => json!({"error": "missing X-CF-Event-Id"}),
            Self::Malformed { detail: Some(d) } => {
                json!({"error": "malformed payload", "detail": d})
            }
            Self::Malformed { detail: None } => json!({"error": "malformed payload"}),
            Self::SchemaMismatch => json!({"error": "schema mismatch"}),
            Self::Unavailable { .. } => json!({"error": "upstream unavailable"}),
            Self::HaloRejected(d) => json!({"error": "halo rejected the request", "detail": d}),
            Self::ContraForceRejected(d) => {
                json!({"error": "contraforce rejected the request", "detail": d})
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_map_to_503_with_retry_after_or_502() {
        let e: ApiError = UpstreamError::Unavailable {
            system: System::Halo,
            retry_after: Some(7),
            not_processed: true,
            reason: String::new(),
        }
        .into();
        assert_eq!(e, ApiError::unavailable_for(7));
        let e: ApiError = UpstreamError::unavailable(System::Halo, "x").into();
        assert_eq!(e, ApiError::unavailable_for(30));
        let e: ApiError = UpstreamError::Unavailable {
            system: System::Halo,
            retry_after: Some(0),
            not_processed: true,
            reason: String::new(),
        }
        .into();
        assert_eq!(e, ApiError::unavailable_for(1));
        let e: ApiError = UpstreamError::Rejected {
            system: System::Halo,
            status: 400,
            detail: "bad".into(),
        }
        .into();
        assert_eq!(e.status_code(), StatusCode::BAD_GATEWAY);
        let r = ApiError::unavailable_for(12).error_response();
        assert_eq!(r.headers().get("retry-after").unwrap(), "12");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    }
}
