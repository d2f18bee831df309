//! The fake ContraForce's knobs: which route styles it serves, which workspaces it knows or
//! denies, how it lists comments; and the RFC 7807 answer of a denied workspace (CONTRACT §8.5).

use std::collections::BTreeSet;

use actix_web::HttpResponse;
use actix_web::http::header::CONTENT_TYPE;
use serde_json::json;

use super::comments::{CommentListShape, CommentTextKey, now_rfc3339_millis};
use super::{CF_WORKSPACE_ID, RouteStyle};
use crate::sandbox::common::json;

/// Which route styles the fake serves (CONTRACT §8.4); both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteStyles {
    /// `/workspaces/{ws}/incidents/{Source}/{incidentId}/…`.
    pub source: bool,
    /// `/workspaces/{ws}/incidents/{incidentId}/…`.
    pub workspace: bool,
}

impl RouteStyles {
    /// Both styles (the default).
    pub const BOTH: RouteStyles = RouteStyles {
        source: true,
        workspace: true,
    };
    /// Only the current API reference's `{Source}` routes.
    pub const SOURCE_ONLY: RouteStyles = RouteStyles {
        source: true,
        workspace: false,
    };
    /// Only the samples' routes without `{Source}`.
    pub const WORKSPACE_ONLY: RouteStyles = RouteStyles {
        source: false,
        workspace: true,
    };

    /// Whether requests in `style` are served.
    pub fn serves(self, style: RouteStyle) -> bool {
        match style {
            RouteStyle::Source => self.source,
            RouteStyle::Workspace => self.workspace,
        }
    }
}

impl Default for RouteStyles {
    fn default() -> Self {
        RouteStyles::BOTH
    }
}

/// The knobs, behind one lock.
pub(super) struct Settings {
    pub(super) styles: RouteStyles,
    pub(super) workspaces: BTreeSet<String>,
    pub(super) denied: BTreeSet<String>,
    pub(super) list_shape: CommentListShape,
    pub(super) text_key: CommentTextKey,
    /// Comments per page of a `data`+`meta` list (`?page=N`, from 1); `None`: one page.
    pub(super) page_size: Option<usize>,
    /// The next comment post is stored, and its answer lost (the connection breaks).
    pub(super) lose_next_comment_answer: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            styles: RouteStyles::default(),
            workspaces: BTreeSet::from([CF_WORKSPACE_ID.to_owned()]),
            denied: BTreeSet::new(),
            list_shape: CommentListShape::default(),
            text_key: CommentTextKey::default(),
            page_size: None,
            lose_next_comment_answer: false,
        }
    }
}

impl Settings {
    /// The answer for a request to `workspace` when it may not proceed: `403` when denied,
    /// `404` when unknown.
    pub(super) fn refuse(&self, workspace: &str) -> Option<HttpResponse> {
        // A denied workspace exists but the service account has no role on it, so 403 wins.
        if self.denied.contains(workspace) {
            return Some(insufficient_role(workspace));
        }
        if !self.workspaces.contains(workspace) {
            return Some(json(404, json!({ "error": "workspace not found" })));
        }
        None
    }
}

/// ContraForce's `403 INSUFFICIENT_WORKSPACE_ROLE` as an RFC 7807 problem document.
fn insufficient_role(workspace: &str) -> HttpResponse {
    let problem = json!({
        "type": "https://docs.contraforce.com/errors/insufficient-workspace-role",
        "title": "Forbidden",
        "status": 403,
        "detail": format!("The service account has no role on workspace {workspace}."),
        "code": "INSUFFICIENT_WORKSPACE_ROLE",
        "requestId": uuid::Uuid::new_v4().to_string(),
        "timestamp": now_rfc3339_millis(),
    });
    HttpResponse::Forbidden()
        .insert_header((CONTENT_TYPE, "application/problem+json"))
        .body(problem.to_string())
}
