//! How a request to the fake Halo finds its handler: `/auth/token`, `/api/authinfo`, then the
//! bearer check and the `/api` routing table.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::HaloService;
use super::auth::{authinfo, invalid_token};
use super::error::{ApiResult, method_not_allowed, no_route};
use super::request::Query;
use super::surface::{documented_query, endpoint_of, undocumented_in};
use crate::sandbox::common::{Gate, Service, json};

impl Service for HaloService {
    const CONTROL_PREFIX: &'static str = "/_sandbox";

    /// Halo matches paths case-insensitively and ignores a trailing slash.
    fn path(req: &HttpRequest) -> String {
        req.path().trim_end_matches('/').to_ascii_lowercase()
    }

    fn down_body() -> Value {
        json!({ "error": "service unavailable" })
    }

    fn control(&self, gate: &Gate, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        self.route_control(gate, method, path, body)
    }

    fn serve(&self, req: &HttpRequest, path: &str, body: &[u8]) -> HttpResponse {
        let method = req.method().as_str();
        let query = Query::parse(req.query_string());
        if path == "/auth/token" {
            return match method {
                "POST" => self.token(&query, body),
                _ => method_not_allowed().into_response(),
            };
        }
        let Some(resource) = path.strip_prefix("/api/") else {
            return no_route().into_response();
        };
        if resource == "authinfo" {
            return authinfo(req);
        }
        if !self.authorized(req) {
            return invalid_token();
        }
        match self.api(method, resource, query, body) {
            Ok(value) => json(200, value),
            Err(err) => err.into_response(),
        }
    }
}

impl HaloService {
    /// The `/api` routing table, once authorised: a block per resource, then the lookup tables.
    /// Like Halo, it first forgets every name the published API does not define (recording them),
    /// so an undocumented filter answers as if it had not been sent.
    fn api(&self, method: &str, resource: &str, query: Query, body: &[u8]) -> ApiResult {
        let segments: Vec<&str> = resource.split('/').collect();
        let endpoint = endpoint_of(method, &segments);
        let parsed_body = (method == "POST")
            .then(|| serde_json::from_slice::<Value>(body).ok())
            .flatten();
        let undocumented = undocumented_in(&endpoint, &query.0, parsed_body.as_ref());
        if !undocumented.is_empty() {
            self.state().undocumented.extend(undocumented);
        }
        let query = &Query(documented_query(&endpoint, query.0));
        match (method, segments.as_slice()) {
            ("GET", ["tickets"]) => self.list_tickets(query),
            ("GET", ["tickets", id]) => self.get_ticket(id),
            ("POST", ["tickets"]) => self.post_tickets(query, body),
            ("GET", ["actions"]) => self.list_actions(query),
            ("GET", ["actions", id]) => self.get_action(id, query),
            ("POST", ["actions"]) => self.post_actions(query, body),
            ("GET", ["webhook"]) => self.get_webhooks(None),
            ("GET", ["webhook", id]) => self.get_webhooks(Some(id)),
            ("GET", ["webhookevent"]) => self.get_webhook_events(query),
            ("GET", [table]) => self.lookup_table(table).ok_or_else(no_route),
            (_, ["tickets" | "actions" | "webhook", ..]) => Err(method_not_allowed()),
            _ => Err(no_route()),
        }
    }
}
