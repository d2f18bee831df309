//! How the fake Halo writes its records: the subset of Halo's fields the bridge reads, ids in the
//! configured [`IdStyle`], and HTML notes as plain text.

use serde_json::{Value, json};

use super::clock::rfc3339;
use super::model::{HaloAction, HaloTicket, IdStyle};

/// An id written as `3`, `3.0` or `"3"`.
pub(super) fn styled_id(id: u64, style: IdStyle) -> Value {
    match style {
        IdStyle::Int => json!(id),
        // u64 → f64 is exact for any id the fake will ever hand out.
        IdStyle::Float => serde_json::Number::from_f64(id as f64).map_or(json!(id), Value::Number),
        IdStyle::Str => json!(id.to_string()),
    }
}

/// Which custom fields a ticket object carries: a single ticket (or a webhook) has all of them; a
/// list row only those `include_custom_fields` names, as Halo lists them.
#[derive(Clone, Copy)]
pub(super) enum CustomFields<'a> {
    All,
    Only(&'a [u64]),
}

/// A ticket as the API writes it (the subset of Halo's hundreds of fields the bridge uses).
pub(super) fn ticket_json(t: &HaloTicket, style: IdStyle) -> Value {
    ticket_json_with(t, style, CustomFields::All)
}

/// A ticket with the custom fields `which` selects; a list row without any has no `customfields`.
pub(super) fn ticket_json_with(t: &HaloTicket, style: IdStyle, which: CustomFields<'_>) -> Value {
    let customfields: Vec<Value> = t
        .customfields
        .iter()
        .filter(|(id, _)| match which {
            CustomFields::All => true,
            CustomFields::Only(ids) => ids.contains(id),
        })
        .map(|(id, value)| json!({ "id": id, "name": format!("CF{id}"), "value": value }))
        .collect();
    // Halo writes both names; the fake keeps one clock behind them, the one its date filters read.
    let updated = rfc3339(t.last_update);
    let mut obj = json!({
        "id": styled_id(t.id, style),
        "summary": t.summary,
        "details": html_to_text(&t.details_html),
        "details_html": t.details_html,
        "status_id": t.status_id,
        "status_name": t.status_name,
        "hasbeenclosed": t.hasbeenclosed,
        // Halo writes every field of the ticket, the external id empty when there is none.
        "third_party_id_string": t.third_party_id_string.clone().unwrap_or_default(),
        "lastactiondate": updated,
        "last_update": updated,
        "use": "ticket",
    });
    let optional = [
        ("tickettype_id", t.tickettype_id.map(Value::from)),
        ("client_id", t.client_id.map(Value::from)),
        ("priority_id", t.priority_id.map(Value::from)),
        ("team", t.team.clone().map(Value::from)),
        ("category_1", t.category_1.clone().map(Value::from)),
    ];
    if let Value::Object(map) = &mut obj {
        for (key, value) in &t.other {
            map.insert(key.clone(), value.clone());
        }
        for (key, value) in optional {
            if let Some(value) = value {
                map.insert(key.to_owned(), value);
            }
        }
        if matches!(which, CustomFields::All) || !customfields.is_empty() {
            map.insert("customfields".to_owned(), Value::Array(customfields));
        }
    }
    obj
}

/// An action as the API writes it; `note_html` only when asked for (`includehtmlnote`).
pub(super) fn action_json(a: &HaloAction, style: IdStyle, with_html: bool) -> Value {
    let mut obj = json!({
        "id": a.id,
        "ticket_id": styled_id(a.ticket_id, style),
        "outcome": a.outcome,
        "who": a.who,
        "agent_id": a.agent_id,
        "who_agentid": a.agent_id,
        "hiddenfromuser": a.hiddenfromuser,
        "note": a.note,
        "datetime": a.datetime,
    });
    if with_html && let Value::Object(map) = &mut obj {
        map.insert("note_html".to_owned(), json!(a.note_html));
    }
    obj
}

/// Plain text from HTML, enough for a fake: line breaks at `<br>` and block ends, tags dropped.
pub(super) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = rest[start + 1..start + len].trim().to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" || tag == "/div" || tag == "/li" {
            out.push('\n');
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    html_escape::decode_html_entities(&out).trim().to_owned()
}
