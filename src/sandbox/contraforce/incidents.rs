//! What the fake ContraForce keeps: every comment and status change the API accepted (as sent),
//! and per incident its stored comments and status, whichever route style wrote them.

use std::collections::HashMap;

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::comments::{self, Draft, StoredComment};
use super::{CfComment, CfService, CfStatusUpdate, RouteStyle};
use crate::sandbox::common::json;

/// The status that closes an incident.
const CLOSED: &str = "Closed";

/// Where an API request points, as its path said it.
pub(super) struct IncidentPath {
    /// Workspace id, percent-decoded.
    pub(super) workspace_id: String,
    /// Incident id, percent-decoded.
    pub(super) incident_id: String,
    /// The incident segment as received.
    pub(super) raw_incident_segment: String,
    /// Which route style the path used.
    pub(super) style: RouteStyle,
    /// The `{Source}` segment as received, in the source style.
    pub(super) source_segment: Option<String>,
}

/// One incident's comments (oldest first) and status.
#[derive(Default)]
struct Incident {
    comments: Vec<StoredComment>,
    status: Option<String>,
}

/// Everything accepted so far, oldest first, and the incidents it changed.
#[derive(Default)]
pub(super) struct Records {
    pub(super) comments: Vec<CfComment>,
    pub(super) statuses: Vec<CfStatusUpdate>,
    /// Keyed by (workspace, decoded incident id): the route style plays no part.
    incidents: HashMap<(String, String), Incident>,
    /// The last `createdTime` given out, in Unix milliseconds.
    last_created: i64,
}

impl Records {
    fn incident(&mut self, ws: &str, incident_id: &str) -> &mut Incident {
        self.incidents
            .entry((ws.to_owned(), incident_id.to_owned()))
            .or_default()
    }

    /// Stores a comment on an incident and returns it; a closing comment also closes it.
    pub(super) fn push_comment(
        &mut self,
        ws: &str,
        incident_id: &str,
        draft: Draft,
    ) -> StoredComment {
        // One past the last when the clock has not moved, so the order never depends on the id.
        let created = comments::now_millis().max(self.last_created + 1);
        self.last_created = created;
        let comment = draft.stored(comments::rfc3339_millis(created));
        let incident = self.incident(ws, incident_id);
        if comment.is_closing_comment {
            incident.status = Some(CLOSED.to_owned());
        }
        incident.comments.push(comment.clone());
        comment
    }

    /// Stores a comment on an incident and returns its id.
    pub(super) fn store(&mut self, ws: &str, incident_id: &str, draft: Draft) -> String {
        self.push_comment(ws, incident_id, draft).id
    }

    /// An analyst's close: a closing comment, then status `Closed`; returns the comment's id.
    pub(super) fn close(
        &mut self,
        ws: &str,
        incident_id: &str,
        author: &str,
        message: &str,
    ) -> String {
        self.store(ws, incident_id, Draft::analyst(author, message).closing())
    }

    /// An incident's comments, oldest first.
    pub(super) fn incident_comments(&self, ws: &str, incident_id: &str) -> Vec<StoredComment> {
        self.incidents
            .get(&(ws.to_owned(), incident_id.to_owned()))
            .map(|incident| incident.comments.clone())
            .unwrap_or_default()
    }

    /// An incident's status as last set.
    pub(super) fn incident_status(&self, ws: &str, incident_id: &str) -> Option<String> {
        self.incidents
            .get(&(ws.to_owned(), incident_id.to_owned()))
            .and_then(|incident| incident.status.clone())
    }
}

impl CfService {
    /// `POST …/comments`: needs a non-empty `content`; stores it as the service account's.
    pub(super) fn add_comment(&self, at: IncidentPath, fields: Map<String, Value>) -> HttpResponse {
        let content = match required_text(&fields, "content") {
            Ok(content) => content.to_owned(),
            Err(missing) => return *missing,
        };
        let text_key = self.settings().text_key;
        let mut records = self.records();
        let draft = Draft::service(&content, false);
        let stored = records.push_comment(&at.workspace_id, &at.incident_id, draft);
        records.comments.push(CfComment {
            incident_id: at.incident_id,
            raw_incident_segment: at.raw_incident_segment,
            body: Value::Object(fields),
            workspace_id: at.workspace_id,
            style: at.style,
            source_segment: at.source_segment,
            comment_id: stored.id.clone(),
        });
        drop(records);
        // Applied, and then the answer is lost (a gateway timeout after ContraForce acted).
        if std::mem::take(&mut self.settings().lose_next_comment_answer) {
            return crate::sandbox::common::reset_response();
        }
        json(
            201,
            json!({
                "id": stored.id,
                "data": comments::render(&stored, text_key),
                "meta": { "requestId": uuid::Uuid::new_v4().to_string() },
            }),
        )
    }

    /// `GET …/comments`: the incident's comments, oldest first, in the configured shape.
    pub(super) fn list_comments(&self, at: &IncidentPath, page: usize) -> HttpResponse {
        let (shape, key, size) = {
            let settings = self.settings();
            (settings.list_shape, settings.text_key, settings.page_size)
        };
        let stored = self
            .records()
            .incident_comments(&at.workspace_id, &at.incident_id);
        json(
            200,
            comments::list(&stored, shape, key, size.map(|s| (s, page))),
        )
    }

    /// `PUT …/status`: needs a non-empty `status`; `Closed` also adds a closing comment.
    pub(super) fn set_status(&self, at: IncidentPath, fields: Map<String, Value>) -> HttpResponse {
        let status = match required_text(&fields, "status") {
            Ok(status) => status.to_owned(),
            Err(missing) => return *missing,
        };
        let mut records = self.records();
        if status.eq_ignore_ascii_case(CLOSED) {
            let message = fields
                .get("comment")
                .and_then(Value::as_str)
                .filter(|text| !text.trim().is_empty())
                .unwrap_or(CLOSED);
            let draft = Draft::service(message, true);
            records.push_comment(&at.workspace_id, &at.incident_id, draft);
        }
        records.incident(&at.workspace_id, &at.incident_id).status = Some(status);
        records.statuses.push(CfStatusUpdate {
            incident_id: at.incident_id,
            raw_incident_segment: at.raw_incident_segment,
            body: Value::Object(fields),
            workspace_id: at.workspace_id,
            style: at.style,
            source_segment: at.source_segment,
        });
        json(200, json!({ "ok": true }))
    }
}

/// The non-blank string at `key`, or ContraForce's 400 answer (boxed: a response is large).
fn required_text<'a>(
    fields: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, Box<HttpResponse>> {
    match fields.get(key).and_then(Value::as_str) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(Box::new(json(
            400,
            json!({ "message": format!("{key} is required") }),
        ))),
    }
}
