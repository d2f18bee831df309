//! Halo's JSON as we read it: ids written as `3`, `3.0` or `"3"`, lists bare or wrapped.

use serde_json::{Map, Value};

/// A whole non-negative id from `3`, `3.0` or `"3"`.
pub fn flex_id(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            (f >= 0.0 && f.fract() == 0.0 && f <= 9.0e15).then_some(f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The records of a list answer: a bare array, or the array under `key` (`tickets`, `actions`).
pub fn list_items<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    match body {
        Value::Array(items) => items,
        Value::Object(o) => o
            .get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        _ => &[],
    }
}

/// The record of a create answer: a single object, or the first element of an array.
pub fn first_record(body: &Value) -> Option<&Map<String, Value>> {
    match body {
        Value::Object(o) => Some(o),
        Value::Array(items) => items.first().and_then(Value::as_object),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        v @ Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

/// The ticket fields the bridge reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ticket {
    /// Ticket id.
    pub id: u64,
    /// Halo's documented external-id text field, where the bridge keeps the reference.
    pub third_party_id_string: Option<String>,
    /// The samples' field: not in Halo's published API, but read for tickets linked that way on
    /// a tenant where it was kept.
    pub thirdpartynumber: Option<String>,
    /// `(field id, value as text)` of each custom field.
    pub custom_fields: Vec<(u64, String)>,
    /// Status id.
    pub status_id: Option<u64>,
    /// Status name.
    pub status_name: Option<String>,
    /// Whether Halo marks it closed.
    pub has_been_closed: bool,
    /// The Halo client (customer) it belongs to.
    pub client_id: Option<u64>,
    /// `lastactiondate`, in `halo_time_ticks`.
    pub last_action: Option<i64>,
}

impl Ticket {
    /// Reads a ticket object; `None` without a usable id.
    pub fn from_json(o: &Map<String, Value>) -> Option<Ticket> {
        let id = o.get("id").and_then(flex_id)?;
        let custom_fields = o
            .get("customfields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f.get("id").and_then(flex_id)?, text(f.get("value"))?)))
            .collect();
        Some(Ticket {
            id,
            third_party_id_string: text(o.get("third_party_id_string")).filter(|s| !s.is_empty()),
            thirdpartynumber: text(o.get("thirdpartynumber")).filter(|s| !s.is_empty()),
            custom_fields,
            status_id: o.get("status_id").and_then(flex_id),
            status_name: text(o.get("status_name")).filter(|s| !s.is_empty()),
            has_been_closed: matches!(o.get("hasbeenclosed"), Some(Value::Bool(true))),
            client_id: o.get("client_id").and_then(flex_id),
            last_action: o
                .get("lastactiondate")
                .and_then(Value::as_str)
                .and_then(crate::halo::client::halo_time_ticks),
        })
    }

    /// The external reference: the custom field in custom-field mode, else
    /// `third_party_id_string`, else the samples' `thirdpartynumber` (CONTRACT §4.3 step 2).
    /// In custom-field mode the documented field still counts, so a ticket linked before the
    /// switch stays linked.
    pub fn reference(&self, field_id: Option<u64>) -> Option<&str> {
        let custom = field_id.and_then(|field| {
            self.custom_fields
                .iter()
                .find(|(id, v)| *id == field && !v.is_empty())
                .map(|(_, v)| v.as_str())
        });
        custom
            .or(self.third_party_id_string.as_deref())
            .or(self.thirdpartynumber.as_deref())
    }

    /// Every reference this ticket carries, in any field the bridge reads one from.
    pub fn references(&self, field_id: Option<u64>) -> Vec<&str> {
        let custom = field_id.into_iter().flat_map(|field| {
            self.custom_fields
                .iter()
                .filter(move |(id, v)| *id == field && !v.is_empty())
                .map(|(_, v)| v.as_str())
        });
        let mut all: Vec<&str> = custom
            .chain(self.third_party_id_string.as_deref())
            .chain(self.thirdpartynumber.as_deref())
            .filter(|r| !r.is_empty())
            .collect();
        all.dedup();
        all
    }

    /// Whether this ticket carries `reference` in any field the bridge reads it from.
    pub fn carries(&self, reference: &str, field_id: Option<u64>) -> bool {
        let custom = field_id.is_some_and(|field| {
            self.custom_fields
                .iter()
                .any(|(id, v)| *id == field && v == reference)
        });
        custom
            || self.third_party_id_string.as_deref() == Some(reference)
            || self.thirdpartynumber.as_deref() == Some(reference)
    }
}

/// The action fields the bridge reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Action {
    /// Per-ticket action id.
    pub id: u64,
    /// Private note.
    pub hidden_from_user: bool,
    /// The agent who wrote it (`agent_id`, else `who_agentid`, else `actionby_agent_id`).
    pub agent_id: Option<u64>,
    /// Display name of the author.
    pub who: Option<String>,
    /// Plain text.
    pub note: Option<String>,
    /// HTML text.
    pub note_html: Option<String>,
    /// `datetime`, in `halo_time_ticks`.
    pub datetime: Option<i64>,
}

impl Action {
    /// Reads an action object; `None` without a usable id.
    pub fn from_json(o: &Map<String, Value>) -> Option<Action> {
        let id = o.get("id").and_then(flex_id)?;
        let agent_id = ["agent_id", "who_agentid", "actionby_agent_id"]
            .iter()
            .find_map(|k| o.get(*k).and_then(flex_id));
        Some(Action {
            id,
            hidden_from_user: matches!(o.get("hiddenfromuser"), Some(Value::Bool(true))),
            agent_id,
            who: text(o.get("who")).filter(|s| !s.trim().is_empty()),
            note: text(o.get("note")),
            note_html: text(o.get("note_html")),
            datetime: o
                .get("datetime")
                .and_then(Value::as_str)
                .and_then(crate::halo::client::halo_time_ticks),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_accepted_as_int_whole_float_or_string() {
        assert_eq!(flex_id(&json!(3)), Some(3));
        assert_eq!(flex_id(&json!(3.0)), Some(3));
        assert_eq!(flex_id(&json!("3")), Some(3));
        assert_eq!(flex_id(&json!(3.5)), None);
        assert_eq!(flex_id(&json!(-3)), None);
        assert_eq!(flex_id(&json!("x")), None);
        assert_eq!(flex_id(&json!(null)), None);
    }

    #[test]
    fn lists_are_read_bare_or_wrapped() {
        let wrapped = json!({"record_count": 1, "tickets": [{"id": 1}]});
        assert_eq!(list_items(&wrapped, "tickets").len(), 1);
        assert_eq!(
            list_items(&json!([{"id": 1}, {"id": 2}]), "tickets").len(),
            2
        );
        assert!(list_items(&json!({"record_count": 0}), "tickets").is_empty());
        assert_eq!(first_record(&json!([{"id": 5}])).unwrap()["id"], 5);
    }

    #[test]
    fn the_fixture_actions_parse_with_their_authors() {
        let body: Value = serde_json::from_str(
            &std::fs::read_to_string("../shared/fixtures/halo-actions.json").unwrap(),
        )
        .unwrap();
        let actions: Vec<Action> = list_items(&body, "actions")
            .iter()
            .filter_map(|a| Action::from_json(a.as_object()?))
            .collect();
        assert_eq!(actions.len(), 3);
        assert!(actions[1].hidden_from_user);
        assert_eq!(actions[2].agent_id, Some(3));
        assert_eq!(actions[2].who.as_deref(), Some("Jane Tech"));
    }

    #[test]
    fn tickets_read_references_in_both_modes() {
        let t = Ticket::from_json(json!({"id": "42", "thirdpartynumber": "cf|a|b", "status_id": 9.0,
            "hasbeenclosed": true, "customfields": [{"id": 7, "value": "cf|x|y"}, {"id": 8, "value": 12}]})
            .as_object().unwrap()).unwrap();
        assert_eq!(t.id, 42);
        assert_eq!(t.reference(None), Some("cf|a|b"));
        assert_eq!(t.reference(Some(7)), Some("cf|x|y"));
        assert_eq!(t.reference(Some(8)), Some("12"));
        assert_eq!(
            t.reference(Some(9)),
            Some("cf|a|b"),
            "the documented fields still count"
        );
        assert_eq!(t.status_id, Some(9));
        assert!(t.has_been_closed);
        assert!(t.carries("cf|x|y", Some(7)) && t.carries("cf|a|b", Some(7)));
        assert!(!t.carries("cf|x|y", None));
    }

    #[test]
    fn the_documented_field_comes_before_the_samples_field() {
        let t = Ticket::from_json(
            json!({"id": 1, "third_party_id_string": "cf|new|1", "thirdpartynumber": "cf|old|1"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(t.reference(None), Some("cf|new|1"));
        let blank = Ticket::from_json(
            json!({"id": 1, "third_party_id_string": "", "thirdpartynumber": "cf|old|1"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(blank.reference(None), Some("cf|old|1"));
        let none = Ticket::from_json(json!({"id": 1}).as_object().unwrap()).unwrap();
        assert_eq!(none.reference(None), None);
    }
}
