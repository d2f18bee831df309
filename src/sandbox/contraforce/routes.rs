//! How a request to the fake ContraForce finds its handler: the incident routes, checked for
//! method, Basic auth, workspace and body before the handler runs; and the `/_sandbox` views.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{CF_CLIENT_ID, CF_CLIENT_SECRET, CF_WORKSPACE_ID, CfService};
use crate::sandbox::common::{Gate, Service, json};

const API_PREFIX: &str = "/api/v2/workspaces/";

/// What an API path asks for.
enum Target {
    Comments,
    Status,
}

impl Service for CfService {
    const CONTROL_PREFIX: &'static str = "/_sandbox/";

    /// The raw URI path, so `%2F` in an incident id stays one segment.
    fn path(req: &HttpRequest) -> String {
        req.uri().path().to_owned()
    }

    fn down_body() -> Value {
        json!({ "error": "unavailable" })
    }

    /// `/_sandbox/...`: read-only views for manual use; not logged.
    fn control(&self, gate: &Gate, method: &str, path: &str, _body: &[u8]) -> HttpResponse {
        match (method, path.trim_end_matches('/')) {
            ("GET", "comments") => json(200, json!(self.records().comments)),
            ("GET", "status") => json(200, json!(self.records().statuses)),
            ("GET", "requests") => json(200, json!(gate.requests())),
            _ => json(404, json!({ "error": "not found" })),
        }
    }

    fn serve(&self, req: &HttpRequest, path: &str, body: &[u8]) -> HttpResponse {
        let method = req.method().as_str();
        let Some((workspace, raw_incident, target)) = route(path) else {
            return json(404, json!({ "error": "not found" }));
        };
        match (&target, method) {
            (Target::Comments, "POST") | (Target::Status, "PUT") => {}
            _ => return json(405, json!({ "error": "method not allowed" })),
        }
        if !authorized(req) {
            return json(401, json!({ "error": "unauthorized" }));
        }
        if workspace != CF_WORKSPACE_ID {
            return json(404, json!({ "error": "workspace not found" }));
        }
        let Ok(incident_id) = percent_decode_str(raw_incident).decode_utf8() else {
            return json(400, json!({ "message": "incident id is not valid UTF-8" }));
        };
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return json(400, json!({ "message": "body must be a JSON object" }));
        };
        let incident_id = incident_id.into_owned();
        let raw_incident_segment = raw_incident.to_owned();
        match target {
            Target::Comments => self.add_comment(incident_id, raw_incident_segment, fields),
            Target::Status => self.set_status(incident_id, raw_incident_segment, fields),
        }
    }
}

/// `/api/v2/workspaces/{ws}/incidents/{incident}/{comments|status}` → its parts, raw.
fn route(path: &str) -> Option<(&str, &str, Target)> {
    let prefix = path.get(..API_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(API_PREFIX) {
        return None;
    }
    let segments: Vec<&str> = path[API_PREFIX.len()..].split('/').collect();
    let [workspace, incidents, incident, action] = segments.as_slice() else {
        return None;
    };
    if !incidents.eq_ignore_ascii_case("incidents") || incident.is_empty() {
        return None;
    }
    let target = if action.eq_ignore_ascii_case("comments") {
        Target::Comments
    } else if action.eq_ignore_ascii_case("status") {
        Target::Status
    } else {
        return None;
    };
    Some((workspace, incident, target))
}

/// `Authorization: Basic base64(clientId:clientSecret)` with the sandbox credentials.
fn authorized(req: &HttpRequest) -> bool {
    let expected = format!("{CF_CLIENT_ID}:{CF_CLIENT_SECRET}");
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| BASE64.decode(encoded.trim()).ok())
        .is_some_and(|decoded| decoded == expected.as_bytes())
}
