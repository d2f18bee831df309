//! `agent.investigation.completed.v1` (CONTRACT §10.1): ContraForce's security agent reached a
//! verdict. Its body schema is not public, so the parser is tolerant: the names below, camelCase
//! or snake_case, at `data.` or nested (`data.incident.`, `data.investigation.`).

use serde_json::{Map, Value};

use super::webhook::{EnvelopeError, Incident};

/// The event type of an agent's verdict.
pub const INVESTIGATION_COMPLETED: &str = "agent.investigation.completed.v1";

/// An agent investigation, as much of it as the bridge reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Investigation {
    /// The incident id (`data.incidentId`, `data.incident.id`, `data.incident.incidentId`).
    pub incident_id: String,
    /// The source as the lower-case slug the reference uses (`DefenderXDR` → `defenderxdr`).
    pub source: String,
    /// The customer account, when given.
    pub account_id: Option<String>,
    /// The incident's title, when given.
    pub title: Option<String>,
    /// The incident's severity, when given.
    pub severity: Option<String>,
    /// The incident's number, when given.
    pub incident_number: Option<i64>,
    /// `classification`, e.g. `FalsePositive`.
    pub classification: Option<String>,
    /// `classificationReason`.
    pub classification_reason: Option<String>,
    /// `maliciousScore` (0–100), as written.
    pub malicious_score: Option<String>,
    /// `comment`, else `summary`.
    pub comment: Option<String>,
}

impl Investigation {
    /// `cf|{source}|{incidentId}`, as the incident's own ticket carries it.
    pub fn reference(&self) -> String {
        format!("cf|{}|{}", self.source, self.incident_id)
    }

    /// The incident as far as the verdict tells it, for a ticket made from it (a missing title
    /// reads `ContraForce incident {incidentId}`).
    pub fn incident(&self) -> Incident {
        Incident {
            incident_id: self.incident_id.clone(),
            source: self.source.clone(),
            title: self
                .title
                .clone()
                .unwrap_or_else(|| format!("ContraForce incident {}", self.incident_id)),
            severity: self.severity.clone().unwrap_or_default(),
            incident_number: self.incident_number.unwrap_or(0),
            account_id: self.account_id.clone(),
            ..Incident::default()
        }
    }
}

/// `fooBar` → `foo_bar`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The first of `objects` that has `name` (camelCase, or its snake_case form).
fn field<'a>(objects: &[Option<&'a Map<String, Value>>], name: &str) -> Option<&'a Value> {
    let snake = snake(name);
    objects
        .iter()
        .flatten()
        .find_map(|o| o.get(name).or_else(|| o.get(&snake)))
        .filter(|v| !v.is_null())
}

/// Text from a string, or a number's or boolean's JSON text; blank counts as absent.
fn text(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.trim().to_string(),
        v @ (Value::Number(_) | Value::Bool(_)) => v.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Parses the `data` of a verified `agent.investigation.completed.v1` body.
pub fn parse_investigation(data: &Map<String, Value>) -> Result<Investigation, EnvelopeError> {
    let incident = data.get("incident").and_then(Value::as_object);
    let verdict = data.get("investigation").and_then(Value::as_object);
    let incident_id = text(data.get("incidentId").or_else(|| data.get("incident_id")))
        .or_else(|| text(field(&[incident], "id")))
        .or_else(|| text(field(&[incident], "incidentId")))
        .ok_or_else(|| EnvelopeError::Malformed("data.incidentId".into()))?;
    let source = text(field(&[Some(data), incident], "source"))
        .ok_or_else(|| EnvelopeError::Malformed("data.source".into()))?
        .to_ascii_lowercase();
    let at_data = [Some(data), incident];
    let at_verdict = [Some(data), verdict];
    Ok(Investigation {
        incident_id,
        source,
        account_id: text(field(&at_data, "accountId")),
        title: text(field(&at_data, "title")),
        severity: text(field(&at_data, "severity")),
        incident_number: field(&at_data, "incidentNumber").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        }),
        classification: text(field(&at_verdict, "classification")),
        classification_reason: text(field(&at_verdict, "classificationReason")),
        malicious_score: text(field(&at_verdict, "maliciousScore")),
        comment: text(field(&at_verdict, "comment"))
            .or_else(|| text(field(&at_verdict, "summary"))),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_fixture_parses_with_every_verdict_field() {
        let body: Value = serde_json::from_str(
            &std::fs::read_to_string("../shared/fixtures/cf-agent-investigation.json").unwrap(),
        )
        .unwrap();
        let inv = parse_investigation(body["data"].as_object().unwrap()).unwrap();
        assert_eq!(
            inv.reference(),
            "cf|sentinel|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21"
        );
        assert_eq!(inv.classification.as_deref(), Some("FalsePositive"));
        assert_eq!(inv.classification_reason.as_deref(), Some("InaccurateData"));
        assert_eq!(inv.malicious_score.as_deref(), Some("8"));
        assert_eq!(inv.incident_number, Some(1234));
        assert!(inv.comment.unwrap().contains("travel VPN.\nNo follow-on"));
    }

    #[test]
    fn snake_case_and_the_nested_shapes_parse_alike() {
        let snake = data(json!({
            "incident_id": "i-1", "source": "DefenderXDR", "account_id": "a",
            "classification": "TruePositive", "classification_reason": "Malware",
            "malicious_score": 97, "summary": "Ransomware staging."
        }));
        let nested = data(json!({
            "incident": {"id": "i-1", "source": "DefenderXDR", "accountId": "a"},
            "investigation": {"classification": "TruePositive", "classificationReason": "Malware",
                "maliciousScore": 97, "comment": "Ransomware staging."}
        }));
        let nested_id = data(json!({
            "incident": {"incidentId": "i-1", "source": "defenderxdr", "account_id": "a"},
            "investigation": {"classification": "TruePositive", "classification_reason": "Malware",
                "malicious_score": "97", "summary": "Ransomware staging."}
        }));
        let expected = Investigation {
            incident_id: "i-1".into(),
            source: "defenderxdr".into(),
            account_id: Some("a".into()),
            classification: Some("TruePositive".into()),
            classification_reason: Some("Malware".into()),
            malicious_score: Some("97".into()),
            comment: Some("Ransomware staging.".into()),
            ..Investigation::default()
        };
        for d in [snake, nested, nested_id] {
            assert_eq!(parse_investigation(&d).unwrap(), expected, "{d:?}");
        }
    }

    #[test]
    fn a_missing_incident_id_or_source_names_the_field() {
        assert_eq!(
            parse_investigation(&data(
                json!({"source": "sentinel", "incident": {"title": "x"}})
            )),
            Err(EnvelopeError::Malformed("data.incidentId".into()))
        );
        assert_eq!(
            parse_investigation(&data(json!({"incidentId": " ", "source": "sentinel"}))),
            Err(EnvelopeError::Malformed("data.incidentId".into()))
        );
        assert_eq!(
            parse_investigation(&data(json!({"incidentId": "i"}))),
            Err(EnvelopeError::Malformed("data.source".into()))
        );
    }

    #[test]
    fn a_verdict_without_incident_fields_makes_a_plain_incident() {
        let inv =
            parse_investigation(&data(json!({"incidentId": "i-9", "source": "splunk"}))).unwrap();
        let incident = inv.incident();
        assert_eq!(incident.title, "ContraForce incident i-9");
        assert_eq!(incident.reference(), "cf|splunk|i-9");
        assert_eq!(
            (incident.severity.as_str(), incident.incident_number),
            ("", 0)
        );
    }
}
