//! Halo's published API surface (`halo-api-surface.json`, a copy of
//! `../shared/reference/halo-api-surface.json`): which query parameters each endpoint documents and
//! which body fields tickets, actions and custom fields have. The fake keeps to it as Halo does:
//! an undocumented query parameter is ignored and an undocumented body field is dropped, and both
//! are recorded, so a test can prove the bridge sends only documented names (CONTRACT §11.1).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The surface as published, embedded so the sandbox needs no file at run time.
pub const SURFACE_JSON: &str = include_str!("halo-api-surface.json");

/// The documented names, lower-cased (Halo matches names case-insensitively).
pub(super) struct Surface {
    /// `"get /tickets"` → its documented query parameters.
    queries: HashMap<String, HashSet<String>>,
    /// Schema name (`faults`, `actions`, `customfield`) → its documented fields.
    schemas: HashMap<String, HashSet<String>>,
}

/// The embedded surface, parsed once.
pub(super) fn surface() -> &'static Surface {
    static SURFACE: OnceLock<Surface> = OnceLock::new();
    SURFACE.get_or_init(|| Surface::parse(SURFACE_JSON))
}

fn lower_keys(value: Option<&Value>) -> HashSet<String> {
    value
        .and_then(Value::as_object)
        .map(|o| o.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

impl Surface {
    fn parse(text: &str) -> Surface {
        let root: Value = serde_json::from_str(text).expect("the embedded surface is JSON");
        let queries = root["endpoints"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(endpoint, spec)| (endpoint.to_ascii_lowercase(), lower_keys(spec.get("query"))))
            .collect();
        let schemas = root["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, fields)| (name.to_ascii_lowercase(), lower_keys(Some(fields))))
            .collect();
        Surface { queries, schemas }
    }

    /// Whether `endpoint` (`"GET /Tickets/{id}"`) is documented at all.
    pub(super) fn has_endpoint(&self, endpoint: &str) -> bool {
        self.queries.contains_key(&endpoint.to_ascii_lowercase())
    }

    /// Whether `endpoint` documents the query parameter `name`.
    pub(super) fn documents_query(&self, endpoint: &str, name: &str) -> bool {
        self.queries
            .get(&endpoint.to_ascii_lowercase())
            .is_some_and(|names| names.contains(&name.to_ascii_lowercase()))
    }

    /// Whether `schema` (`Faults`, `Actions`, `CustomField`) has the field `name`.
    pub(super) fn documents_field(&self, schema: &str, name: &str) -> bool {
        self.schemas
            .get(&schema.to_ascii_lowercase())
            .is_some_and(|names| names.contains(&name.to_ascii_lowercase()))
    }
}

/// The documented endpoint a request reaches, written as the surface writes it
/// (`GET /Tickets/{id}`), from the lower-cased path segments after `/api/`.
pub(super) fn endpoint_of(method: &str, segments: &[&str]) -> String {
    let name = |segment: &str| match segment {
        "tickets" => "Tickets".to_owned(),
        "actions" => "Actions".to_owned(),
        "status" => "Status".to_owned(),
        "priority" => "Priority".to_owned(),
        "tickettype" => "TicketType".to_owned(),
        "team" => "Team".to_owned(),
        "client" => "Client".to_owned(),
        "outcome" => "Outcome".to_owned(),
        "agent" => "Agent".to_owned(),
        "webhook" => "Webhook".to_owned(),
        "webhookevent" => "WebhookEvent".to_owned(),
        "externallink" => "ExternalLink".to_owned(),
        "authinfo" => "AuthInfo".to_owned(),
        other => other.to_owned(),
    };
    let path = match segments {
        [resource] => name(resource),
        [resource, _] => format!("{}/{{id}}", name(resource)),
        other => other.join("/"),
    };
    format!("{method} /{path}")
}

/// What the fake noted of one request: the names it does not document, as
/// `"GET /Tickets ?thirdpartynumber"` or `"POST /Tickets body thirdpartynumber"`.
pub(super) fn undocumented_in(
    endpoint: &str,
    query: &[(String, String)],
    body: Option<&Value>,
) -> BTreeSet<String> {
    let surface = surface();
    let mut found = BTreeSet::new();
    if !surface.has_endpoint(endpoint) {
        found.insert(format!("{endpoint} (endpoint)"));
        return found;
    }
    for (name, _) in query {
        if !surface.documents_query(endpoint, name) {
            found.insert(format!("{endpoint} ?{name}"));
        }
    }
    let schema = match endpoint {
        "POST /Tickets" => Some("Faults"),
        "POST /Actions" => Some("Actions"),
        _ => None,
    };
    if let (Some(schema), Some(body)) = (schema, body) {
        let elements: Vec<&Map<String, Value>> = match body {
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            Value::Object(o) => vec![o],
            _ => Vec::new(),
        };
        for element in elements {
            for (name, value) in element {
                if !surface.documents_field(schema, name) {
                    found.insert(format!("{endpoint} body {name}"));
                } else if name.eq_ignore_ascii_case("customfields") {
                    custom_field_names(endpoint, value, &mut found);
                }
            }
        }
    }
    found
}

fn custom_field_names(endpoint: &str, value: &Value, found: &mut BTreeSet<String>) {
    let fields = value.as_array().into_iter().flatten();
    for field in fields.filter_map(Value::as_object) {
        for name in field.keys() {
            if !surface().documents_field("CustomField", name) {
                found.insert(format!("{endpoint} body customfields[].{name}"));
            }
        }
    }
}

/// Whether `schema` documents `name`: what a write keeps.
pub(super) fn is_documented_field(schema: &str, name: &str) -> bool {
    surface().documents_field(schema, name)
}

/// The query with only the parameters `endpoint` documents: Halo answers as if the others
/// were never sent.
pub(super) fn documented_query(
    endpoint: &str,
    query: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let surface = surface();
    query
        .into_iter()
        .filter(|(name, _)| surface.documents_query(endpoint, name))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_embedded_surface_matches_the_shared_reference() {
        let shared = std::fs::read_to_string("../shared/reference/halo-api-surface.json")
            .expect("../shared/reference/halo-api-surface.json beside the repository");
        let embedded: Value = serde_json::from_str(SURFACE_JSON).unwrap();
        let reference: Value = serde_json::from_str(&shared).unwrap();
        assert_eq!(
            embedded, reference,
            "src/sandbox/halo/halo-api-surface.json differs from ../shared/reference: copy it again"
        );
    }

    #[test]
    fn the_names_the_bridge_relies_on_are_documented_and_the_samples_names_are_not() {
        let s = surface();
        for name in [
            "third_party_id_string",
            "lastupdatefromdate",
            "pageinate",
            "page_size",
            "page_no",
            "include_custom_fields",
            "includeclosed",
            "order",
            "orderdesc",
        ] {
            assert!(s.documents_query("GET /Tickets", name), "{name}");
        }
        for name in ["thirdpartynumber", "searchcustomfield_77", "tenant"] {
            assert!(!s.documents_query("GET /Tickets", name), "{name}");
        }
        assert!(s.documents_field("Faults", "third_party_id_string"));
        assert!(!s.documents_field("Faults", "thirdpartynumber"));
        assert!(s.documents_field("Actions", "note_html"));
        assert!(s.documents_field("CustomField", "value"));
    }

    #[test]
    fn undocumented_names_are_found_in_queries_bodies_and_custom_fields() {
        let query = vec![
            ("pageinate".to_owned(), "true".to_owned()),
            ("thirdpartynumber".to_owned(), "x".to_owned()),
        ];
        let found = undocumented_in("GET /Tickets", &query, None);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            ["GET /Tickets ?thirdpartynumber"]
        );
        let body = json!([{"summary": "s", "thirdpartynumber": "x",
            "customfields": [{"id": 1, "value": "v", "colour": "red"}]}]);
        let found = undocumented_in("POST /Tickets", &[], Some(&body));
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [
                "POST /Tickets body customfields[].colour",
                "POST /Tickets body thirdpartynumber"
            ]
        );
        assert_eq!(
            endpoint_of("GET", &["tickets", "12"]),
            "GET /Tickets/{id}".to_owned()
        );
        assert!(undocumented_in("GET /Tickets/{id}", &[], None).is_empty());
        assert_eq!(
            undocumented_in("GET /Nope", &[], None)
                .into_iter()
                .collect::<Vec<_>>(),
            ["GET /Nope (endpoint)"]
        );
    }
}
