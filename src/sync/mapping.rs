//! ContraForce incident → Halo ticket fields (CONTRACT §3.4).

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::contraforce::webhook::Incident;
use crate::settings::{MappingSettings, Placeholder, Segment};
// Re-exported so the paths under `sync::mapping` keep working.
pub use crate::settings::TitleTemplate;
pub use crate::text::{escape_html, truncate_chars};

/// Longest summary Halo gets, in Unicode scalar values.
pub const SUMMARY_MAX_CHARS: usize = 200;

/// Fills the title template in (no cut, no escaping: Halo's summary is plain text).
pub fn render_title(template: &TitleTemplate, incident: &Incident) -> String {
    let mut out = String::new();
    for segment in template.segments() {
        match segment {
            Segment::Text(t) => out.push_str(t),
            Segment::Field(field) => match field {
                Placeholder::IncidentNumber => {
                    let _ = write!(out, "{}", incident.incident_number);
                }
                Placeholder::IncidentId => out.push_str(&incident.incident_id),
                Placeholder::Title => out.push_str(&incident.title),
                Placeholder::Severity => out.push_str(&incident.severity),
                Placeholder::Source => out.push_str(&incident.source),
                Placeholder::SourceDisplayName => out.push_str(opt(&incident.source_display_name)),
                Placeholder::AccountName => out.push_str(opt(&incident.account_name)),
                Placeholder::Unknown => {}
            },
        }
    }
    out
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

fn present(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// The ticket's `details_html`: one line, every value escaped.
pub fn details_html(incident: &Incident) -> String {
    let e = |v: &Option<String>| escape_html(opt(v));
    let mut html = format!(
        "<p><strong>ContraForce incident</strong> {} (#{})</p><ul><li><strong>Severity:</strong> {}</li>\
         <li><strong>Source:</strong> {}</li><li><strong>Created:</strong> {}</li>",
        escape_html(&incident.incident_id),
        incident.incident_number,
        escape_html(&incident.severity),
        e(&incident.source_display_name),
        e(&incident.created_at),
    );
    if let Some(owner) = incident
        .owner
        .as_ref()
        .filter(|o| present(&o.display_name) || present(&o.email))
    {
        let _ = write!(
            html,
            "<li><strong>Owner:</strong> {} &lt;{}&gt;</li>",
            e(&owner.display_name),
            e(&owner.email)
        );
    }
    html.push_str("</ul>");
    if present(&incident.description) {
        let _ = write!(html, "<p>{}</p>", e(&incident.description));
    }
    if !incident.alerts.is_empty() {
        html.push_str("<p><strong>Alerts</strong></p><ul>");
        for a in &incident.alerts {
            let _ = write!(
                html,
                "<li>[{}] {} ({})</li>",
                e(&a.severity),
                e(&a.title),
                e(&a.product_name)
            );
        }
        html.push_str("</ul>");
    }
    if !incident.entities.is_empty() {
        html.push_str("<p><strong>Entities</strong></p><ul>");
        for ent in &incident.entities {
            let _ = write!(html, "<li>{}: {}</li>", e(&ent.kind), e(&ent.display_name));
        }
        html.push_str("</ul>");
    }
    html
}

/// The one ticket object sent in `POST /Tickets` (the element of the array).
pub fn ticket(incident: &Incident, m: &MappingSettings) -> Value {
    let summary = render_title(&m.title_template, incident);
    let client_id = incident
        .account_id
        .as_ref()
        .and_then(|a| m.client_map.get(a))
        .copied()
        .unwrap_or(m.default_client_id);
    let mut t = json!({
        "summary": truncate_chars(&summary, SUMMARY_MAX_CHARS),
        "details_html": details_html(incident),
        "tickettype_id": m.ticket_type_id,
        "client_id": client_id,
        "priority_id": m.priority_for(&incident.severity),
    });
    let obj = t.as_object_mut().expect("built as an object");
    let reference = incident.reference();
    match m.external_ref_field_id {
        Some(field) => obj.insert(
            "customfields".into(),
            json!([{ "id": field, "value": reference }]),
        ),
        // Halo's documented external-id field: Halo drops fields it does not define, so the
        // samples' `thirdpartynumber` would be lost (CONTRACT §11).
        None => obj.insert("third_party_id_string".into(), Value::String(reference)),
    };
    if let Some(team) = &m.team {
        obj.insert("team".into(), Value::String(team.clone()));
    }
    if let Some(category) = &m.category {
        obj.insert("category_1".into(), Value::String(category.clone()));
    }
    t
}

/// How every Halo note the bridge writes begins, as plain text: such a note is never sent to
/// ContraForce, even a public one from an agent that is not `HALO_INTEGRATION_AGENT_ID`.
const BRIDGE_NOTE_OPENINGS: [&str; 3] = [
    "ContraForce re-delivered incident ",
    "ContraForce agent investigation:",
    "ContraForce comment by ",
];

/// How every ContraForce comment the bridge writes begins: such a comment is never copied to
/// Halo (the comments, and the close comment ContraForce may log as a closing comment).
const BRIDGE_COMMENT_OPENINGS: [&str; 2] = ["[Halo ticket #", "Closed in HaloPSA (ticket #"];

/// Whether a Halo note's plain text is one the bridge wrote.
pub fn is_bridge_note(text: &str) -> bool {
    BRIDGE_NOTE_OPENINGS.iter().any(|o| text.starts_with(o))
}

/// Whether a ContraForce comment's text is one the bridge wrote.
pub fn is_bridge_comment(text: &str) -> bool {
    let text = text.trim_start();
    BRIDGE_COMMENT_OPENINGS.iter().any(|o| text.starts_with(o))
}

/// Escaped text with its line breaks as `<br>`.
fn escape_lines(text: &str) -> String {
    escape_html(text.trim())
        .replace("\r\n", "\n")
        .replace('\n', "<br>")
}

/// `note_html` of a ContraForce comment copied to Halo (CONTRACT §10.2).
pub fn comment_note_html(author: Option<&str>, message: &str) -> String {
    format!(
        "<p><strong>ContraForce comment by {}</strong></p><p>{}</p>",
        escape_html(author.unwrap_or("ContraForce")),
        escape_lines(message)
    )
}

/// `note_html` of a ContraForce comment copied to Halo (CONTRACT §10.1): absent parts left out.
pub fn investigation_note_html(
    classification: Option<&str>,
    reason: Option<&str>,
    malicious_score: Option<&str>,
    comment: Option<&str>,
) -> String {
    let mut head = String::from("<p><strong>ContraForce agent investigation:</strong>");
    if let Some(c) = classification {
        let _ = write!(head, " {}", escape_html(c));
    }
    if let Some(r) = reason {
        let _ = write!(head, " ({})", escape_html(r));
    }
    if let Some(score) = malicious_score {
        if classification.is_some() || reason.is_some() {
            head.push(',');
        }
        let _ = write!(head, " malicious score {}/100", escape_html(score));
    }
    head.push_str("</p>");
    if let Some(comment) = comment.filter(|c| !c.trim().is_empty()) {
        let _ = write!(head, "<p>{}</p>", escape_lines(comment));
    }
    head
}

/// `note_html` of the private note written when an already-linked incident is delivered again.
pub fn redelivery_note_html(incident_id: &str, event_id: &str) -> String {
    format!(
        "<p>ContraForce re-delivered incident {} as event <code>{}</code></p>",
        escape_html(incident_id),
        escape_html(event_id)
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::contraforce::webhook::{Alert, Entity, Envelope, Owner, parse};

    fn fixture() -> Incident {
        let body = std::fs::read("../shared/fixtures/cf-incident-created.json").expect("fixture");
        match parse(&body, None).unwrap() {
            Envelope::IncidentCreated { incident, .. } => *incident,
            other => panic!("{other:?}"),
        }
    }

    fn mapping() -> MappingSettings {
        MappingSettings {
            ticket_type_id: 25,
            default_client_id: 1,
            client_map: HashMap::from([("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f".to_string(), 44)]),
            priority_map: HashMap::from([
                ("high".into(), 1),
                ("medium".into(), 2),
                ("low".into(), 3),
            ]),
            title_template: TitleTemplate::parse("[CF #{incidentNumber}] {title}"),
            team: None,
            category: None,
            external_ref_field_id: None,
        }
    }

    #[test]
    fn details_html_of_the_fixture_incident_matches_the_snapshot() {
        let expected = concat!(
            "<p><strong>ContraForce incident</strong> b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21 (#1234)</p>",
            "<ul><li><strong>Severity:</strong> High</li><li><strong>Source:</strong> Microsoft Sentinel</li>",
            "<li><strong>Created:</strong> 2026-04-22T14:55:00Z</li>",
            "<li><strong>Owner:</strong> Alex Analyst &lt;alex@example.com&gt;</li></ul>",
            "<p>Multiple sign-ins from unfamiliar locations.</p>",
            "<p><strong>Alerts</strong></p><ul><li>[High] Impossible travel (Microsoft Sentinel)</li></ul>",
            "<p><strong>Entities</strong></p><ul><li>User: alex@example.com</li><li>IP: 203.0.113.42</li></ul>",
        );
        assert_eq!(details_html(&fixture()), expected);
    }

    #[test]
    fn optional_parts_are_left_out_when_absent() {
        let incident = Incident {
            incident_id: "i".into(),
            source: "s".into(),
            title: "t".into(),
            severity: "Low".into(),
            incident_number: 7,
            owner: Some(Owner::default()),
            description: Some("   ".into()),
            ..Incident::default()
        };
        assert_eq!(
            details_html(&incident),
            "<p><strong>ContraForce incident</strong> i (#7)</p><ul><li><strong>Severity:</strong> Low</li>\
             <li><strong>Source:</strong> </li><li><strong>Created:</strong> </li></ul>"
        );
    }

    #[test]
    fn html_in_every_field_is_escaped() {
        let evil = "<script>alert('x')</script> & \"q\"";
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;";
        let s = || Some(evil.to_string());
        let incident = Incident {
            incident_id: evil.into(),
            source: "s".into(),
            title: evil.into(),
            severity: evil.into(),
            incident_number: 1,
            description: s(),
            source_display_name: s(),
            created_at: s(),
            owner: Some(Owner {
                display_name: s(),
                email: s(),
            }),
            alerts: vec![Alert {
                title: s(),
                severity: s(),
                product_name: s(),
            }],
            entities: vec![Entity {
                kind: s(),
                display_name: s(),
            }],
            ..Incident::default()
        };
        let html = details_html(&incident);
        assert!(!html.contains("<script>"), "{html}");
        assert_eq!(html.matches(escaped).count(), 12, "{html}");
        let note = redelivery_note_html(evil, evil);
        assert_eq!(note.matches(escaped).count(), 2);
    }

    #[test]
    fn a_200_character_cut_never_splits_a_multi_byte_character() {
        let title: String = "é🔥漢".repeat(100);
        let incident = Incident {
            title: title.clone(),
            incident_number: 1,
            ..Incident::default()
        };
        let mut m = mapping();
        m.title_template = TitleTemplate::parse("{title}");
        let t = ticket(&incident, &m);
        let summary = t["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 200);
        assert!(title.starts_with(summary));
        assert_eq!(truncate_chars("ab", 200), "ab");
    }

    #[test]
    fn the_ticket_maps_client_priority_reference_and_options() {
        let incident = fixture();
        let t = ticket(&incident, &mapping());
        assert_eq!(t["summary"], "[CF #1234] Suspicious sign-in activity");
        assert_eq!(t["client_id"], 44);
        assert_eq!(t["priority_id"], 1);
        assert_eq!(t["tickettype_id"], 25);
        assert_eq!(
            t["third_party_id_string"],
            "cf|sentinel|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21"
        );
        assert!(t.get("thirdpartynumber").is_none());
        assert!(t.get("team").is_none() && t.get("customfields").is_none());

        let mut m = mapping();
        m.external_ref_field_id = Some(251);
        m.team = Some("SOC".into());
        m.category = Some("Security>Incident".into());
        m.client_map.clear();
        let t = ticket(
            &Incident {
                severity: "Unknown".into(),
                ..incident
            },
            &m,
        );
        assert_eq!(
            t["customfields"],
            json!([{"id": 251, "value": "cf|sentinel|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21"}])
        );
        assert!(t.get("third_party_id_string").is_none());
        assert_eq!(
            (t["team"].as_str(), t["category_1"].as_str()),
            (Some("SOC"), Some("Security>Incident"))
        );
        assert_eq!(
            (t["client_id"].as_u64(), t["priority_id"].as_u64()),
            (Some(1), Some(3))
        );
    }

    #[test]
    fn the_title_template_fills_known_placeholders_and_blanks_unknown_ones() {
        let t = TitleTemplate::parse(
            "{severity}|{source}|{sourceDisplayName}|{accountName}|{incidentId}|{nope}|{open",
        );
        assert_eq!(
            render_title(&t, &fixture()),
            "High|sentinel|Microsoft Sentinel|Example MSP SOC|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21||{open"
        );
    }

    #[test]
    fn the_investigation_note_of_the_fixture_matches_the_snapshot() {
        assert_eq!(
            investigation_note_html(
                Some("FalsePositive"),
                Some("InaccurateData"),
                Some("8"),
                Some("Sign-in came from the user's known travel VPN.\nNo follow-on activity."),
            ),
            "<p><strong>ContraForce agent investigation:</strong> FalsePositive (InaccurateData), malicious score 8/100</p>\
             <p>Sign-in came from the user&#39;s known travel VPN.<br>No follow-on activity.</p>"
        );
        assert_eq!(
            investigation_note_html(None, None, Some("97"), None),
            "<p><strong>ContraForce agent investigation:</strong> malicious score 97/100</p>"
        );
        assert_eq!(
            investigation_note_html(Some("<b>TP</b>"), None, None, Some("  ")),
            "<p><strong>ContraForce agent investigation:</strong> &lt;b&gt;TP&lt;/b&gt;</p>"
        );
    }

    #[test]
    fn comment_notes_escape_and_keep_line_breaks_and_bridge_texts_are_recognised() {
        assert_eq!(
            comment_note_html(Some("Ann <SOC>"), "line 1\r\nline & 2"),
            "<p><strong>ContraForce comment by Ann &lt;SOC&gt;</strong></p><p>line 1<br>line &amp; 2</p>"
        );
        assert_eq!(
            comment_note_html(None, "x"),
            "<p><strong>ContraForce comment by ContraForce</strong></p><p>x</p>"
        );
        assert!(is_bridge_comment("[Halo ticket #1000 note by Jane]\n\nhi"));
        assert!(is_bridge_comment(
            "Closed in HaloPSA (ticket #1000, status 'Closed')."
        ));
        assert!(!is_bridge_comment("Looks benign."));
        for ours in [
            "ContraForce comment by Ann\nx",
            "ContraForce agent investigation: FalsePositive",
            "ContraForce re-delivered incident i as event e",
        ] {
            assert!(is_bridge_note(ours), "{ours}");
        }
        assert!(!is_bridge_note("Reset the password."));
    }
}
