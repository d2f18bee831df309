//! How a request to the fake ContraForce finds its handler: the incident routes in both styles,
//! checked for style, method, Basic auth, workspace and body before the handler runs; and the
//! `/_sandbox` control endpoints.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::comments::Draft;
use super::incidents::IncidentPath;
use super::{CF_CLIENT_ID, CF_CLIENT_SECRET, CfService, RouteStyle};
use crate::sandbox::common::{Gate, Service, json};

const API_PREFIX: &str = "/api/v2/workspaces/";

/// Who a control-endpoint comment is by when its body names nobody.
const DEFAULT_ANALYST: &str = "ContraForce Analyst";
/// Which agent a control-endpoint agent comment is by when its body names none.
const DEFAULT_AGENT: &str = "Security Agent";

/// What an API path asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Comments,
    Status,
}

/// An API path's parts, raw (still percent-encoded).
struct Route<'a> {
    workspace: &'a str,
    source: Option<&'a str>,
    incident: &'a str,
    target: Target,
    style: RouteStyle,
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

    /// `/_sandbox/...`: views and incident comments for manual use; not logged.
    fn control(&self, gate: &Gate, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        let path = path.trim_end_matches('/');
        match (method, path) {
            ("GET", "comments") => return json(200, json!(self.records().comments)),
            ("GET", "status") => return json(200, json!(self.records().statuses)),
            ("GET", "requests") => return json(200, json!(gate.requests())),
            _ => {}
        }
        let Some((ws, incident)) = control_incident(path) else {
            return json(404, json!({ "error": "not found" }));
        };
        match method {
            "GET" => json(200, json!(self.records().incident_comments(&ws, &incident))),
            "POST" => self.control_comment(&ws, &incident, body),
            _ => json(405, json!({ "error": "method not allowed" })),
        }
    }

    fn serve(&self, req: &HttpRequest, path: &str, body: &[u8]) -> HttpResponse {
        let method = req.method().as_str();
        let Some(route) = route(path) else {
            return json(404, json!({ "error": "not found" }));
        };
        // A style the fake does not serve looks like any unknown path, as on a real tenant.
        if !self.settings().styles.serves(route.style) {
            return json(404, json!({ "error": "not found" }));
        }
        match (route.target, method) {
            (Target::Comments, "POST" | "GET") | (Target::Status, "PUT") => {}
            _ => return json(405, json!({ "error": "method not allowed" })),
        }
        if !authorized(req) {
            return json(401, json!({ "error": "unauthorized" }));
        }
        // Lossy: a workspace id that is not UTF-8 matches no workspace and gets a 404.
        let workspace = percent_decode_str(route.workspace).decode_utf8_lossy();
        if let Some(refusal) = self.settings().refuse(&workspace) {
            return refusal;
        }
        let Ok(incident_id) = percent_decode_str(route.incident).decode_utf8() else {
            return json(400, json!({ "message": "incident id is not valid UTF-8" }));
        };
        let at = IncidentPath {
            workspace_id: workspace.into_owned(),
            incident_id: incident_id.into_owned(),
            raw_incident_segment: route.incident.to_owned(),
            style: route.style,
            source_segment: route.source.map(str::to_owned),
        };
        if method == "GET" {
            let page = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                .ok()
                .and_then(|q| {
                    q.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("page"))
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                })
                .unwrap_or(1);
            return self.list_comments(&at, page);
        }
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return json(400, json!({ "message": "body must be a JSON object" }));
        };
        match route.target {
            Target::Comments => self.add_comment(at, fields),
            Target::Status => self.set_status(at, fields),
        }
    }
}

impl CfService {
    /// `POST /_sandbox/incidents/{ws}/{incident}/comments` with
    /// `{"author","message","closing":bool,"agent":bool}`: a comment as the portal would add it.
    fn control_comment(&self, ws: &str, incident: &str, body: &[u8]) -> HttpResponse {
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return json(400, json!({ "error": "body must be a JSON object" }));
        };
        let text = |key: &str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
        };
        let flag = |key: &str| fields.get(key).and_then(Value::as_bool).unwrap_or(false);
        let closing = flag("closing");
        let Some(message) = text("message").or(closing.then_some("Closed")) else {
            return json(400, json!({ "error": "message is required" }));
        };
        let draft = if flag("agent") {
            Draft::agent(text("author").unwrap_or(DEFAULT_AGENT), message)
        } else {
            Draft::analyst(text("author").unwrap_or(DEFAULT_ANALYST), message)
        };
        let draft = if closing { draft.closing() } else { draft };
        let stored = self.records().push_comment(ws, incident, draft);
        json(201, json!({ "id": stored.id.clone(), "data": stored }))
    }
}

/// `incidents/{ws}/{incident}/comments` (after `/_sandbox/`) → (workspace, incident), decoded.
fn control_incident(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.strip_prefix("incidents/")?.split('/').collect();
    let [ws, incident, "comments"] = segments.as_slice() else {
        return None;
    };
    let decode = |raw: &str| {
        percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((decode(ws)?, decode(incident).filter(|i| !i.is_empty())?))
}

/// `/api/v2/workspaces/{ws}/incidents/[{Source}/]{incident}/{comments|status}` → its parts, raw.
///
/// Four segments after `/workspaces/` are the workspace style, five the source style: the raw
/// path keeps `%2F` inside a segment, so the count is never ambiguous.
fn route(path: &str) -> Option<Route<'_>> {
    let prefix = path.get(..API_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(API_PREFIX) {
        return None;
    }
    let segments: Vec<&str> = path[API_PREFIX.len()..].split('/').collect();
    let (workspace, incidents, source, incident, action, style) = match segments.as_slice() {
        [ws, incidents, incident, action] => (
            *ws,
            *incidents,
            None,
            *incident,
            *action,
            RouteStyle::Workspace,
        ),
        [ws, incidents, source, incident, action] if !source.is_empty() => (
            *ws,
            *incidents,
            Some(*source),
            *incident,
            *action,
            RouteStyle::Source,
        ),
        _ => return None,
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
    Some(Route {
        workspace,
        source,
        incident,
        target,
        style,
    })
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
