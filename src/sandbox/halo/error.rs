//! The fake Halo's error answers, in the shapes real Halo uses.

use actix_web::HttpResponse;
use serde_json::{Value, json};

use crate::sandbox::common::{json, text};

/// A failed API request: the answer to send.
pub(super) type ApiResult = Result<Value, ApiError>;

/// An error answer. Kept apart from `HttpResponse`, which is too large to pass around in `Result`s.
pub(super) enum ApiError {
    Json(u16, Value),
    /// Halo answers some validation failures with a bare human message.
    Text(u16, &'static str),
    /// No answer at all: the connection breaks (the request's fate is the fake's to decide).
    Reset,
}

impl ApiError {
    pub(super) fn into_response(self) -> HttpResponse {
        match self {
            ApiError::Json(status, body) => json(status, body),
            ApiError::Text(status, message) => text(status, message),
            ApiError::Reset => crate::sandbox::common::reset_response(),
        }
    }
}

/// Halo's validation failure: `{"ClassName":"HaloValidationException","Message":…}`.
pub(super) fn halo_error(status: u16, message: &str) -> ApiError {
    ApiError::Json(
        status,
        json!({ "ClassName": "HaloValidationException", "Message": message }),
    )
}

/// Halo's 404 for a record that does not exist.
pub(super) fn not_found(what: &str) -> ApiError {
    ApiError::Json(
        404,
        json!({ "ClassName": "HaloNotFoundException", "Message": format!("{what} not found") }),
    )
}

/// A path the fake has no route for.
pub(super) fn no_route() -> ApiError {
    ApiError::Json(404, json!({ "error": "not found" }))
}

/// A known resource asked with a method it does not take.
pub(super) fn method_not_allowed() -> ApiError {
    ApiError::Json(405, json!({ "error": "method not allowed" }))
}

/// A body that does not parse as JSON.
pub(super) fn bad_json() -> ApiError {
    halo_error(400, "The request body is not valid JSON")
}

/// Halo's 403 for an API application that lacks a permission: `{"Message": …}`.
pub(super) fn forbidden(message: &str) -> ApiError {
    ApiError::Json(403, json!({ "Message": message }))
}
