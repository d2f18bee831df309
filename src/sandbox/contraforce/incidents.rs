//! What the fake ContraForce keeps per incident: the comments and status changes it accepted,
//! each checked for its one required field.

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::{CfComment, CfService, CfStatusUpdate};
use crate::sandbox::common::json;

/// Everything accepted so far, oldest first.
#[derive(Default)]
pub(super) struct Records {
    pub(super) comments: Vec<CfComment>,
    pub(super) statuses: Vec<CfStatusUpdate>,
}

impl CfService {
    /// `POST …/incidents/{incident}/comments`: needs a non-empty `content`.
    pub(super) fn add_comment(
        &self,
        incident_id: String,
        raw_incident_segment: String,
        fields: Map<String, Value>,
    ) -> HttpResponse {
        if let Some(missing) = missing_text(&fields, "content") {
            return missing;
        }
        self.records().comments.push(CfComment {
            incident_id,
            raw_incident_segment,
            body: Value::Object(fields),
        });
        json(201, json!({ "id": uuid::Uuid::new_v4().to_string() }))
    }

    /// `PUT …/incidents/{incident}/status`: needs a non-empty `status`.
    pub(super) fn set_status(
        &self,
        incident_id: String,
        raw_incident_segment: String,
        fields: Map<String, Value>,
    ) -> HttpResponse {
        if let Some(missing) = missing_text(&fields, "status") {
            return missing;
        }
        self.records().statuses.push(CfStatusUpdate {
            incident_id,
            raw_incident_segment,
            body: Value::Object(fields),
        });
        json(200, json!({ "ok": true }))
    }
}

/// ContraForce's 400 answer when `key` is not a non-empty string.
fn missing_text(fields: &Map<String, Value>, key: &str) -> Option<HttpResponse> {
    match fields.get(key).and_then(Value::as_str) {
        Some(value) if !value.trim().is_empty() => None,
        _ => Some(json(
            400,
            json!({ "message": format!("{key} is required") }),
        )),
    }
}
