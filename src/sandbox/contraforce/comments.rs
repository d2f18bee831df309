//! Comments as ContraForce stores and lists them (`reference/contraforce.md` §3), the knobs that
//! change how `GET …/comments` writes them (CONTRACT §10.2), and ContraForce's timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

/// Author of the comments the bridge posts through the API (the service account).
pub(super) const SERVICE_NAME: &str = "Bridge Service Account";
/// E-mail of the service account.
pub(super) const SERVICE_EMAIL: &str = "svc-bridge@contraforce.example";
/// Author ContraForce shows for its agent's comments.
const AGENT_AUTHOR: &str = "ContraForce Agent";
/// E-mail shown for the agent's comments.
const AGENT_EMAIL: &str = "agent@contraforce.example";

/// One comment on an incident, with the fields ContraForce's API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredComment {
    /// Comment id (a UUID).
    pub id: String,
    /// The text.
    pub message: String,
    /// RFC 3339 UTC with milliseconds; strictly increasing across the fake.
    pub created_time: String,
    /// Who wrote it.
    pub author_name: String,
    /// The author's e-mail.
    pub author_email: String,
    /// Always false: the fake keeps no activity entries.
    pub is_activity_comment: bool,
    /// True for the ContraForce agent's comments.
    pub is_agent_comment: bool,
    /// The agent's name (`null` unless an agent wrote it).
    pub agent_name: Option<String>,
    /// True for the comment that closed the incident.
    pub is_closing_comment: bool,
}

/// How `GET …/comments` wraps the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CommentListShape {
    /// `{"data":[…],"meta":{"total":n}}` (the current API).
    #[default]
    DataWithMeta,
    /// `{"data":[…]}`.
    Data,
    /// `{"value":[…]}`.
    Value,
    /// A bare array.
    Bare,
}

/// The key the API writes a comment's text under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CommentTextKey {
    /// `message` (the current API).
    #[default]
    Message,
    /// `content` (the name the bridge posts with).
    Content,
}

/// A comment before the fake gives it an id and a time.
pub(super) struct Draft {
    pub(super) message: String,
    pub(super) author_name: String,
    pub(super) author_email: String,
    pub(super) agent_name: Option<String>,
    pub(super) closing: bool,
}

impl Draft {
    /// A comment posted through the API with the service account.
    pub(super) fn service(message: &str, closing: bool) -> Draft {
        Draft {
            message: message.to_owned(),
            author_name: SERVICE_NAME.to_owned(),
            author_email: SERVICE_EMAIL.to_owned(),
            agent_name: None,
            closing,
        }
    }

    /// A comment by an analyst in the portal.
    pub(super) fn analyst(author: &str, message: &str) -> Draft {
        Draft {
            message: message.to_owned(),
            author_name: author.to_owned(),
            author_email: email_for(author),
            agent_name: None,
            closing: false,
        }
    }

    /// A comment by the ContraForce agent.
    pub(super) fn agent(agent_name: &str, message: &str) -> Draft {
        Draft {
            message: message.to_owned(),
            author_name: AGENT_AUTHOR.to_owned(),
            author_email: AGENT_EMAIL.to_owned(),
            agent_name: Some(agent_name.to_owned()),
            closing: false,
        }
    }

    /// The same comment, closing the incident.
    pub(super) fn closing(mut self) -> Draft {
        self.closing = true;
        self
    }

    /// The stored comment, with a new id and `created_time`.
    pub(super) fn stored(self, created_time: String) -> StoredComment {
        StoredComment {
            id: uuid::Uuid::new_v4().to_string(),
            message: self.message,
            created_time,
            author_name: self.author_name,
            author_email: self.author_email,
            is_activity_comment: false,
            is_agent_comment: self.agent_name.is_some(),
            agent_name: self.agent_name,
            is_closing_comment: self.closing,
        }
    }
}

/// `Jane Doe` → `jane.doe@contraforce.example`: analysts need some plausible address.
fn email_for(author: &str) -> String {
    let local: Vec<String> = author
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let local = if local.is_empty() {
        "analyst".to_owned()
    } else {
        local.join(".")
    };
    format!("{local}@contraforce.example")
}

/// One comment as the API writes it, its text under `key`.
pub(super) fn render(comment: &StoredComment, key: CommentTextKey) -> Value {
    let mut value = json!(comment);
    if key == CommentTextKey::Content
        && let Value::Object(fields) = &mut value
        && let Some(text) = fields.remove("message")
    {
        fields.insert("content".to_owned(), text);
    }
    value
}

/// The answer to `GET …/comments`, oldest first; with `(size, page)`, one page of a `data`+`meta`
/// list.
pub(super) fn list(
    comments: &[StoredComment],
    shape: CommentListShape,
    key: CommentTextKey,
    paged: Option<(usize, usize)>,
) -> Value {
    let total = comments.len();
    let shown: &[StoredComment] = match (paged, shape) {
        (Some((size, page)), CommentListShape::DataWithMeta) => {
            let start = size.saturating_mul(page.max(1) - 1).min(total);
            &comments[start..(start + size).min(total)]
        }
        _ => comments,
    };
    let items: Vec<Value> = shown.iter().map(|c| render(c, key)).collect();
    match shape {
        CommentListShape::DataWithMeta => json!({ "data": items, "meta": { "total": total } }),
        CommentListShape::Data => json!({ "data": items }),
        CommentListShape::Value => json!({ "value": items }),
        CommentListShape::Bare => Value::Array(items),
    }
}

/// Milliseconds since the Unix epoch, now.
pub(super) fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `2026-12-01T19:00:00.123Z`: how ContraForce writes instants.
pub(super) fn rfc3339_millis(millis: i64) -> String {
    format!(
        "{}Z",
        crate::clock::utc_date_time(i128::from(millis) * 1_000_000, 3)
    )
}

/// Now, as ContraForce writes it.
pub(super) fn now_rfc3339_millis() -> String {
    rfc3339_millis(now_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_796_151_600_123),
            "2026-12-01T19:00:00.123Z"
        );
    }

    #[test]
    fn analyst_emails_come_from_the_name() {
        assert_eq!(email_for("Jane  Doe"), "jane.doe@contraforce.example");
        assert_eq!(email_for("—"), "analyst@contraforce.example");
    }
}
