//! ContraForce webhook: the signature over the raw bytes (`signature`), then the envelope
//! (CONTRACT §3.1).

use serde_json::{Map, Value};

pub use super::investigation::{INVESTIGATION_COMPLETED, Investigation, parse_investigation};
pub use super::signature::{
    Mac, SignatureError, decode_signature, parse_timestamp, sign, sign_base64, verify,
};

/// The event type that creates tickets.
pub const INCIDENT_CREATED: &str = "incident.created.v1";

/// A payload problem, answered with 400 and this detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not a JSON object, or a required field missing or of the wrong type.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// `X-CF-Schema` disagrees with the signed body's `type`.
    #[error("schema mismatch")]
    SchemaMismatch,
}

/// What the signed body says this delivery is.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// Any other type: acknowledged and ignored.
    Unhandled {
        /// The body's `type`.
        event_type: String,
    },
    /// A new incident.
    IncidentCreated {
        /// The incident.
        incident: Box<Incident>,
        /// Body `isTest: true`.
        is_test: bool,
    },
    /// The agent's verdict on an incident (CONTRACT §10.1).
    Investigation {
        /// The verdict.
        investigation: Box<Investigation>,
        /// Body `isTest: true`.
        is_test: bool,
    },
}

/// An owner as ContraForce sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    /// Display name.
    pub display_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// One alert of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alert {
    /// Alert title.
    pub title: Option<String>,
    /// Alert severity.
    pub severity: Option<String>,
    /// Product that raised it.
    pub product_name: Option<String>,
}

/// One entity of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entity {
    /// Entity kind, e.g. `User`.
    pub kind: Option<String>,
    /// What to show.
    pub display_name: Option<String>,
}

/// The `data` of an `incident.created.v1` event: required fields typed, optional ones as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Incident {
    /// ContraForce incident id (non-empty).
    pub incident_id: String,
    /// Source slug, e.g. `sentinel` (non-empty).
    pub source: String,
    /// Title.
    pub title: String,
    /// Severity text.
    pub severity: String,
    /// Incident number.
    pub incident_number: i64,
    /// Customer account id.
    pub account_id: Option<String>,
    /// Customer account name.
    pub account_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Source display name.
    pub source_display_name: Option<String>,
    /// Creation time, verbatim.
    pub created_at: Option<String>,
    /// Owner, when the object is present.
    pub owner: Option<Owner>,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// Entities.
    pub entities: Vec<Entity>,
}

impl Incident {
    /// The external reference `cf|{source}|{incidentId}`, verbatim.
    pub fn reference(&self) -> String {
        format!("cf|{}|{}", self.source, self.incident_id)
    }
}

fn malformed(field: &str) -> EnvelopeError {
    EnvelopeError::Malformed(field.to_string())
}

/// Parses a verified body. `schema_header` is `X-CF-Schema` when present.
pub fn parse(body: &[u8], schema_header: Option<&str>) -> Result<Envelope, EnvelopeError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| malformed("type"))?;
    let Value::Object(root) = value else {
        return Err(malformed("type"));
    };
    let Some(Value::String(event_type)) = root.get("type") else {
        return Err(malformed("type"));
    };
    if let Some(schema) = schema_header
        && !schema.trim().eq_ignore_ascii_case(event_type)
    {
        return Err(EnvelopeError::SchemaMismatch);
    }
    let created = event_type.eq_ignore_ascii_case(INCIDENT_CREATED);
    if !created && !event_type.eq_ignore_ascii_case(INVESTIGATION_COMPLETED) {
        return Ok(Envelope::Unhandled {
            event_type: event_type.clone(),
        });
    }
    let Some(Value::Object(data)) = root.get("data") else {
        return Err(malformed("data"));
    };
    let is_test = matches!(root.get("isTest"), Some(Value::Bool(true)));
    if !created {
        return Ok(Envelope::Investigation {
            investigation: Box::new(parse_investigation(data)?),
            is_test,
        });
    }
    let incident = parse_incident(data)?;
    Ok(Envelope::IncidentCreated {
        incident: Box::new(incident),
        is_test,
    })
}

fn required_string(
    data: &Map<String, Value>,
    key: &str,
    non_empty: bool,
) -> Result<String, EnvelopeError> {
    match data.get(key) {
        Some(Value::String(s)) if !non_empty || !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(malformed(&format!("data.{key}"))),
    }
}

/// Optional text: strings as sent, numbers and booleans as their JSON text; anything else is
/// treated as absent so one odd optional field never costs the incident its ticket.
fn optional_text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

fn objects<'a>(
    data: &'a Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a Map<String, Value>> {
    data.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

fn parse_incident(data: &Map<String, Value>) -> Result<Incident, EnvelopeError> {
    let incident_id = required_string(data, "incidentId", true)?;
    let source = required_string(data, "source", true)?;
    let title = required_string(data, "title", false)?;
    let severity = required_string(data, "severity", false)?;
    let incident_number = data
        .get("incidentNumber")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_u64().and_then(|n| i64::try_from(n).ok()))
        })
        .ok_or_else(|| malformed("data.incidentNumber"))?;
    let owner = data.get("owner").and_then(Value::as_object).map(|o| Owner {
        display_name: optional_text(o, "displayName"),
        email: optional_text(o, "email"),
    });
    let alerts = objects(data, "alerts")
        .map(|a| Alert {
            title: optional_text(a, "title"),
            severity: optional_text(a, "severity"),
            product_name: optional_text(a, "productName"),
        })
        .collect();
    let entities = objects(data, "entities")
        .map(|e| Entity {
            kind: optional_text(e, "type"),
            display_name: optional_text(e, "displayName"),
        })
        .collect();
    Ok(Incident {
        incident_id,
        source,
        title,
        severity,
        incident_number,
        account_id: optional_text(data, "accountId"),
        account_name: optional_text(data, "accountName"),
        description: optional_text(data, "description"),
        source_display_name: optional_text(data, "sourceDisplayName"),
        created_at: optional_text(data, "createdAt"),
        owner,
        alerts,
        entities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_incident_parses_with_every_optional_field() {
        let body = std::fs::read("../shared/fixtures/cf-incident-created.json").expect("fixture");
        let Envelope::IncidentCreated { incident, is_test } =
            parse(&body, Some("Incident.Created.V1")).unwrap()
        else {
            panic!("expected an incident")
        };
        assert!(!is_test);
        assert_eq!(
            incident.reference(),
            "cf|sentinel|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21"
        );
        assert_eq!(incident.incident_number, 1234);
        assert_eq!(incident.alerts.len(), 1);
        assert_eq!(
            incident.entities[1].display_name.as_deref(),
            Some("203.0.113.42")
        );
        assert_eq!(
            incident.owner.unwrap().email.as_deref(),
            Some("alex@example.com")
        );
    }

    #[test]
    fn envelope_errors_name_the_field() {
        let cases: &[(&str, EnvelopeError)] = &[
            ("[]", malformed("type")),
            ("not json", malformed("type")),
            (r#"{"type":3}"#, malformed("type")),
            (r#"{"type":"incident.created.v1"}"#, malformed("data")),
            (
                r#"{"type":"incident.created.v1","data":{"source":"s","title":"t","severity":"High","incidentNumber":1}}"#,
                malformed("data.incidentId"),
            ),
            (
                r#"{"type":"incident.created.v1","data":{"incidentId":"","source":"s","title":"t","severity":"High","incidentNumber":1}}"#,
                malformed("data.incidentId"),
            ),
            (
                r#"{"type":"incident.created.v1","data":{"incidentId":"i","source":"s","title":"t","severity":"High","incidentNumber":1.5}}"#,
                malformed("data.incidentNumber"),
            ),
            (
                r#"{"type":"incident.created.v1","data":{"incidentId":"i","source":"s","title":"t","severity":"High","incidentNumber":"1"}}"#,
                malformed("data.incidentNumber"),
            ),
            (
                r#"{"type":"incident.created.v1","data":{"incidentId":"i","source":"s","severity":"High","incidentNumber":1}}"#,
                malformed("data.title"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                &parse(body.as_bytes(), None).unwrap_err(),
                expected,
                "{body}"
            );
        }
        let mismatch = parse(
            br#"{"type":"incident.created.v1"}"#,
            Some("incident.updated.v1"),
        );
        assert_eq!(mismatch.unwrap_err(), EnvelopeError::SchemaMismatch);
    }

    #[test]
    fn other_event_types_are_unhandled_not_errors() {
        let env = parse(br#"{"type":"incident.updated.v1","data":{}}"#, None).unwrap();
        assert_eq!(
            env,
            Envelope::Unhandled {
                event_type: "incident.updated.v1".into()
            }
        );
    }
}
