//! What a request carries, read as leniently as Halo reads it: the query string, batch bodies,
//! ids written as numbers, floats or strings, and optional fields.

use actix_web::web;
use serde_json::{Map, Value};

use super::HaloService;
use super::error::{ApiError, ApiResult, bad_json, halo_error};
use super::model::ArrayAnswers;
use super::state::State;

/// Parsed query string with case-insensitive keys.
pub(super) struct Query(pub(super) Vec<(String, String)>);

impl Query {
    pub(super) fn parse(raw: &str) -> Query {
        // A malformed query is treated as empty: Halo ignores what it does not understand.
        let pairs = web::Query::<Vec<(String, String)>>::from_query(raw)
            .map(web::Query::into_inner)
            .unwrap_or_default();
        Query(pairs)
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub(super) fn number(&self, key: &str) -> Option<usize> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// A JSON value as text: strings as they are, anything else as JSON.
pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON number, whole float or numeric string as an id (Halo writes ids all three ways).
pub(super) fn as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id path segment (`/api/Tickets/{id}`).
pub(super) fn parse_path_id(segment: &str) -> Option<u64> {
    segment.trim().parse().ok()
}

/// The `ticket_id` query parameter the action endpoints require.
pub(super) fn required_ticket_id(query: &Query) -> Result<u64, ApiError> {
    query
        .get("ticket_id")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| halo_error(400, "A valid ticket_id must be supplied"))
}

impl HaloService {
    /// A create/update POST: every element is validated before any is applied, as Halo does, and
    /// the answer is the last result or, under `returnall=true`, all of them.
    pub(super) fn write_batch<W>(
        &self,
        query: &Query,
        body: &[u8],
        validate: impl Fn(&State, &Map<String, Value>) -> Result<W, ApiError>,
        mut apply: impl FnMut(&mut State, W) -> Value,
    ) -> ApiResult {
        let elements = batch(body)?;
        let mut state = self.state();
        let writes = elements
            .iter()
            .map(|element| validate(&state, element))
            .collect::<Result<Vec<W>, ApiError>>()?;
        let results = writes
            .into_iter()
            .map(|write| apply(&mut state, write))
            .collect();
        Ok(batch_answer(results, query, state.array_answers))
    }
}

/// The body of a create/update POST: an array of objects, or one bare object.
pub(super) fn batch(body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    match serde_json::from_slice::<Value>(body).map_err(|_| bad_json())? {
        Value::Object(obj) => Ok(vec![obj]),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::Object(obj) => Ok(obj),
                _ => Err(halo_error(400, "Each element must be an object")),
            })
            .collect(),
        _ => Err(halo_error(400, "Expected an array of objects")),
    }
}

/// Halo answers a batch with its last result, or with all of them under `returnall=true` (in the
/// order the fake is set to).
fn batch_answer(mut results: Vec<Value>, query: &Query, answers: ArrayAnswers) -> Value {
    if !query.flag("returnall") || answers == ArrayAnswers::LastOnly {
        return results.pop().unwrap_or(Value::Null);
    }
    if answers == ArrayAnswers::Shuffled {
        results.reverse();
    }
    Value::Array(results)
}

/// An optional id field: absent/null → `None`; present but not an id → a 400.
pub(super) fn opt_id(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_id(v)
            .map(Some)
            .ok_or_else(|| halo_error(400, &format!("{key} must be a whole number"))),
    }
}

/// An optional text field: absent/null → `None`; other values as text.
pub(super) fn opt_text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::Null => None,
        v => Some(value_text(v)),
    }
}
