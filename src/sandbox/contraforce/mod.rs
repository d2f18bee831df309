//! A fake ContraForce API (CONTRACT §4.3, §8, §10; `reference/contraforce.md` §3): records the
//! comments and status changes the bridge sends, keeps each incident's comments and status, and
//! emits signed webhooks.
//!
//! [`FakeContraForce`] is the handle tests and the CLI hold. Each concern has its own file:
//! `routes` (both route styles, auth and workspace checks, the `/_sandbox` control endpoints),
//! `incidents` (what a request does to an incident), `comments` (stored comments and how the
//! API lists them), `workspaces` (known and denied workspaces, problem documents) and `events`
//! (the webhook emitter).
//!
//! API (Basic auth with [`CF_CLIENT_ID`]:[`CF_CLIENT_SECRET`]), in both route styles:
//! - `POST /api/v2/workspaces/{ws}/incidents/[{Source}/]{incidentId}/comments` → 201
//! - `GET  /api/v2/workspaces/{ws}/incidents/[{Source}/]{incidentId}/comments` → 200, a list
//! - `PUT  /api/v2/workspaces/{ws}/incidents/[{Source}/]{incidentId}/status` → 200
//!
//! Control endpoints (see [`CONTROL_HELP`]): no auth, not logged, not subject to the knobs.

mod comments;
mod events;
mod incidents;
mod routes;
mod workspaces;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

pub use self::comments::{CommentListShape, CommentTextKey, StoredComment};
pub use self::events::{SignedEvent, SigningFormat, send_event};
use self::incidents::Records;
pub use self::workspaces::RouteStyles;
use self::workspaces::Settings;
use super::common::{self, FakeServer};

/// Service-account client id the fake accepts.
pub const CF_CLIENT_ID: &str = "sandbox-cf-client";
/// Service-account secret the fake accepts.
pub const CF_CLIENT_SECRET: &str = "sandbox-cf-secret";
/// The workspace the fake knows from the start (add more with `add_workspace`).
pub const CF_WORKSPACE_ID: &str = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d";

/// The fake's control endpoints, one line each, relative to its origin (for CLI help texts).
pub const CONTROL_HELP: &str = "\
GET  /_sandbox/comments                            comments the API accepted (as posted)
GET  /_sandbox/status                              status changes the API accepted
GET  /_sandbox/requests                            the request log
GET  /_sandbox/incidents/{ws}/{incident}/comments  an incident's stored comments, oldest first
POST /_sandbox/incidents/{ws}/{incident}/comments  add one: {\"author\",\"message\",\"closing\":bool,\"agent\":bool}";

/// Which route style a request used (CONTRACT §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteStyle {
    /// `/workspaces/{ws}/incidents/{incidentId}/…` (the seed samples).
    Workspace,
    /// `/workspaces/{ws}/incidents/{Source}/{incidentId}/…` (the current API reference).
    Source,
}

/// A comment posted to an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfComment {
    /// Incident id, percent-decoded.
    pub incident_id: String,
    /// The incident path segment exactly as received (still percent-encoded).
    pub raw_incident_segment: String,
    /// The JSON body.
    pub body: Value,
    /// Workspace id from the path, percent-decoded.
    pub workspace_id: String,
    /// The route style the request used.
    pub style: RouteStyle,
    /// The `{Source}` segment as received (`None` in the workspace style).
    pub source_segment: Option<String>,
    /// Id of the stored comment it became (see [`FakeContraForce::incident_comments`]).
    pub comment_id: String,
}

/// A status change sent for an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfStatusUpdate {
    /// Incident id, percent-decoded.
    pub incident_id: String,
    /// The incident path segment exactly as received (still percent-encoded).
    pub raw_incident_segment: String,
    /// The JSON body.
    pub body: Value,
    /// Workspace id from the path, percent-decoded.
    pub workspace_id: String,
    /// The route style the request used.
    pub style: RouteStyle,
    /// The `{Source}` segment as received (`None` in the workspace style).
    pub source_segment: Option<String>,
}

/// A running fake ContraForce API; clones share the same server and state.
pub type FakeContraForce = FakeServer<CfService>;

/// What the fake ContraForce's server serves: what it accepted, its incidents and its knobs.
#[derive(Default)]
pub struct CfService {
    records: Mutex<Records>,
    settings: Mutex<Settings>,
}

impl CfService {
    fn records(&self) -> MutexGuard<'_, Records> {
        common::lock(&self.records)
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        common::lock(&self.settings)
    }
}

impl FakeContraForce {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> io::Result<FakeContraForce> {
        FakeContraForce::start_on(0).await
    }

    /// Starts the fake on `port` (0 = a free port).
    pub async fn start_on(port: u16) -> io::Result<FakeContraForce> {
        FakeServer::run(port, CfService::default())
    }

    /// `http://127.0.0.1:PORT/api/v2` (the value for `CF_API_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("{}/api/v2", self.origin())
    }

    /// Accepted service-account client id.
    pub fn client_id(&self) -> String {
        CF_CLIENT_ID.to_owned()
    }

    /// Accepted service-account secret.
    pub fn client_secret(&self) -> String {
        CF_CLIENT_SECRET.to_owned()
    }

    /// The default workspace id ([`CF_WORKSPACE_ID`]).
    pub fn workspace_id(&self) -> String {
        CF_WORKSPACE_ID.to_owned()
    }

    /// Comments accepted so far, oldest first.
    pub fn comments(&self) -> Vec<CfComment> {
        self.service().records().comments.clone()
    }

    /// Status changes accepted so far, oldest first.
    pub fn status_updates(&self) -> Vec<CfStatusUpdate> {
        self.service().records().statuses.clone()
    }

    /// Chooses the route styles served; a request in another style gets `404 not found`.
    pub fn set_route_styles(&self, styles: RouteStyles) {
        self.service().settings().styles = styles;
    }

    /// The route styles served (both by default).
    pub fn route_styles(&self) -> RouteStyles {
        self.service().settings().styles
    }

    /// Makes `id` a known workspace (only [`CF_WORKSPACE_ID`] is known at start).
    pub fn add_workspace(&self, id: &str) {
        self.service().settings().workspaces.insert(id.to_owned());
    }

    /// Answers every API request for workspace `id` with `403 INSUFFICIENT_WORKSPACE_ROLE`.
    pub fn deny_workspace(&self, id: &str) {
        self.service().settings().denied.insert(id.to_owned());
    }

    /// How `GET …/comments` wraps its list (`{"data":[…],"meta":{"total":n}}` by default).
    pub fn set_comment_list_shape(&self, shape: CommentListShape) {
        self.service().settings().list_shape = shape;
    }

    /// The key the API writes a comment's text under (`message` by default).
    pub fn set_comment_text_key(&self, key: CommentTextKey) {
        self.service().settings().text_key = key;
    }

    /// Stores the next comment posted, then breaks the connection instead of answering: the
    /// poster cannot tell that the comment exists.
    pub fn lose_next_comment_answer(&self) {
        self.service().settings().lose_next_comment_answer = true;
    }

    /// Pages comment lists (`{"data":[…],"meta":{"total":n}}` only): at most `size` comments a
    /// page, the page chosen by `?page=N` (from 1). `None`: every comment in one answer.
    pub fn set_comment_page_size(&self, size: Option<usize>) {
        self.service().settings().page_size = size;
    }

    /// Adds an analyst's comment to an incident and returns its id.
    pub fn add_comment(&self, ws: &str, incident_id: &str, author: &str, message: &str) -> String {
        let draft = comments::Draft::analyst(author, message);
        self.service().records().store(ws, incident_id, draft)
    }

    /// Adds a comment by the ContraForce agent `agent_name` and returns its id.
    pub fn add_agent_comment(
        &self,
        ws: &str,
        incident_id: &str,
        agent_name: &str,
        message: &str,
    ) -> String {
        let draft = comments::Draft::agent(agent_name, message);
        self.service().records().store(ws, incident_id, draft)
    }

    /// Closes an incident as an analyst would: a closing comment, status `Closed`; returns its id.
    pub fn close_incident(
        &self,
        ws: &str,
        incident_id: &str,
        author: &str,
        message: &str,
    ) -> String {
        self.service()
            .records()
            .close(ws, incident_id, author, message)
    }

    /// An incident's stored comments, oldest first (empty for an unknown incident).
    pub fn incident_comments(&self, ws: &str, incident_id: &str) -> Vec<StoredComment> {
        self.service().records().incident_comments(ws, incident_id)
    }

    /// An incident's status as last set (`None` until a status change or close).
    pub fn incident_status(&self, ws: &str, incident_id: &str) -> Option<String> {
        self.service().records().incident_status(ws, incident_id)
    }
}
