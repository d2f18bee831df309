//! An incident's comments as ContraForce lists them (CONTRACT §10.2): `{"data":[…]}`,
//! `{"value":[…]}` or a bare array, the text as `message` or `content`.

use serde_json::{Map, Value};

/// One comment, as much of it as the bridge reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id (a string, or a number written as text).
    pub id: String,
    /// `message`, else `content` (empty when neither).
    pub text: String,
    /// `authorName`.
    pub author: Option<String>,
    /// `createdTime` as sent.
    pub created: Option<String>,
    /// `isClosingComment`: the incident was closed with it.
    pub closing: bool,
}

fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::String(s) => Some(s.clone()),
        v @ Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

/// The comments of a list answer, oldest first; `None` when the answer is no list at all.
pub fn parse_comments(body: &Value) -> Option<Vec<Comment>> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(o) => match o.get("data").or_else(|| o.get("value"))? {
            Value::Array(items) => items,
            _ => return None,
        },
        _ => return None,
    };
    let mut comments: Vec<Comment> = items
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|o| {
            let comment = Comment {
                id: text(o, "id").filter(|id| !id.is_empty())?,
                text: text(o, "message")
                    .or_else(|| text(o, "content"))
                    .unwrap_or_default(),
                author: text(o, "authorName").filter(|a| !a.trim().is_empty()),
                created: text(o, "createdTime"),
                closing: matches!(o.get("isClosingComment"), Some(Value::Bool(true))),
            };
            Some(comment)
        })
        .collect();
    sort_oldest_first(&mut comments);
    Some(comments)
}

/// Oldest first by `createdTime`; stable, so comments without a readable time keep their place
/// relative to each other.
pub fn sort_oldest_first(comments: &mut [Comment]) {
    comments.sort_by_cached_key(|c| {
        c.created
            .as_deref()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(i128::MIN, time::OffsetDateTime::unix_timestamp_nanos)
    });
}

/// How many comments the whole list has, when the answer says (`meta.total`).
pub fn total_of(body: &Value) -> Option<u64> {
    body.get("meta")?.get("total")?.as_u64()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_documented_list_shape_parses_oldest_first() {
        let items = json!([
            {"id": "b", "message": "second", "createdTime": "2026-12-01T10:00:01.000Z", "authorName": "Ann"},
            {"id": "a", "content": "first", "createdTime": "2026-12-01T10:00:00.500+00:00"},
            {"id": 7, "message": "closing", "createdTime": "2026-12-01T11:00:00Z", "isClosingComment": true},
            {"message": "no id is skipped"},
            "not an object"
        ]);
        for body in [
            json!({"data": items}),
            json!({"value": items}),
            items.clone(),
        ] {
            let comments = parse_comments(&body).unwrap();
            let ids: Vec<&str> = comments.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["a", "b", "7"]);
            assert_eq!(comments[0].text, "first");
            assert_eq!(comments[1].author.as_deref(), Some("Ann"));
            assert!(comments[2].closing && !comments[0].closing);
        }
        assert_eq!(parse_comments(&json!({"data": {}})), None);
        assert_eq!(parse_comments(&json!("x")), None);
        assert_eq!(parse_comments(&json!({"data": []})), Some(vec![]));
    }
}
