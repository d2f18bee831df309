//! The ContraForce API calls the bridge makes: incident comments (post, list) and status
//! (CONTRACT §4.3, §8.4–§8.6, §10.2), in either route shape of the v2 API.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::contraforce::comments::{Comment, parse_comments, sort_oldest_first, total_of};
use crate::http::retry::{Idempotency, RetryPolicy};
use crate::http::{self, Deadline, System, UpstreamError};
use crate::secrets::Secrets;
use crate::settings::{ApiRoutes, ContraForceApi};

/// Everything but the unreserved characters `A–Z a–z 0–9 - . _ ~` is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (`a|b` → `a%7Cb`, `/` → `%2F`).
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The API's spelling of a webhook `source` slug (case-insensitive); others as received.
pub fn api_source(slug: &str) -> Cow<'_, str> {
    const SPELLINGS: [&str; 6] = [
        "Sentinel",
        "DefenderXDR",
        "CrowdStrike",
        "SentinelOne",
        "QRadar",
        "Splunk",
    ];
    match SPELLINGS.iter().find(|s| s.eq_ignore_ascii_case(slug)) {
        Some(spelling) => Cow::Borrowed(spelling),
        None => Cow::Borrowed(slug),
    }
}

/// One incident, where it lives.
#[derive(Debug, Clone, Copy)]
pub struct IncidentAt<'a> {
    /// The workspace of its account (CONTRACT §8.6).
    pub workspace: &'a str,
    /// The webhook's `source` slug.
    pub source: &'a str,
    /// The incident id.
    pub incident_id: &'a str,
}

/// The fields of a close (`PUT …/status`).
#[derive(Debug, Clone)]
pub struct Close<'a> {
    /// The comment shown on the incident.
    pub comment: &'a str,
    /// `classification`.
    pub classification: &'a str,
    /// `classificationReason`.
    pub reason: &'a str,
}

/// A route shape of the v2 API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Source,
    Workspace,
}

impl Style {
    fn other(self) -> Style {
        match self {
            Style::Source => Style::Workspace,
            Style::Workspace => Style::Source,
        }
    }
}

/// `auto`'s current style and whether a 2xx has confirmed it, in one atomic byte.
const SOURCE_UNCONFIRMED: u8 = 0;
const SOURCE_CONFIRMED: u8 = 1;
const WORKSPACE_CONFIRMED: u8 = 2;

/// The one ContraForce client of the process (one service account, any workspace).
pub struct ContraForceClient {
    api: ContraForceApi,
    secrets: Arc<Secrets>,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// `auto` only: see the constants above.
    style: AtomicU8,
    /// `auto` only: until a style is confirmed, one call at a time probes, so a process makes
    /// at most one call in the wrong style.
    probe: tokio::sync::Mutex<()>,
}

impl ContraForceClient {
    /// A client for these API settings; makes no call until used.
    pub fn new(api: ContraForceApi, http: reqwest::Client, secrets: Arc<Secrets>) -> Self {
        Self {
            api,
            secrets,
            http,
            retry: RetryPolicy::default(),
            style: AtomicU8::new(SOURCE_UNCONFIRMED),
            probe: tokio::sync::Mutex::new(()),
        }
    }

    /// The API settings (workspaces, route shape).
    pub fn api(&self) -> &ContraForceApi {
        &self.api
    }

    /// `Basic base64(clientId:clientSecret)`, built per request so a rotated secret is used.
    fn authorization(&self) -> Result<HeaderValue, UpstreamError> {
        let secret = self
            .secrets
            .value("CF_SERVICE_ACCOUNT_CLIENT_SECRET")
            .ok_or_else(|| UpstreamError::Misconfigured {
                system: System::ContraForce,
                detail: "CF_SERVICE_ACCOUNT_CLIENT_SECRET is not available".into(),
            })?;
        let credentials = format!("{}:{}", self.api.client_id, secret.expose_secret());
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
            UpstreamError::Misconfigured {
                system: System::ContraForce,
                detail: "the service account id cannot be sent in a header".into(),
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn url(&self, style: Style, incident: IncidentAt<'_>, leaf: &str) -> String {
        let base = format!(
            "{}/workspaces/{}/incidents",
            self.api.base_url,
            encode_segment(incident.workspace)
        );
        let id = encode_segment(incident.incident_id);
        match style {
            Style::Workspace => format!("{base}/{id}/{leaf}"),
            Style::Source => format!(
                "{base}/{}/{id}/{leaf}",
                encode_segment(&api_source(incident.source))
            ),
        }
    }

    /// Posts one comment on an incident.
    pub async fn post_comment(
        &self,
        incident: IncidentAt<'_>,
        content: &str,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let body = json!({
            "incidentId": incident.incident_id,
            "content": content,
            "source": incident.source,
        });
        // A comment is not idempotent: it is sent again only when certainly not received.
        let call = Call {
            method: reqwest::Method::POST,
            leaf: "comments",
            body: Some(&body),
            idempotency: Idempotency::Unsafe,
            query: None,
        };
        self.call(incident, &call, deadline).await.map(drop)
    }

    /// Closes an incident.
    pub async fn close_incident(
        &self,
        incident: IncidentAt<'_>,
        close: &Close<'_>,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let body = json!({
            "incidentId": incident.incident_id,
            "source": incident.source,
            "status": "Closed",
            "comment": close.comment,
            "classification": close.classification,
            "classificationReason": close.reason,
        });
        // Closing twice leaves the incident closed: safe to repeat.
        let call = Call {
            method: reqwest::Method::PUT,
            leaf: "status",
            body: Some(&body),
            idempotency: Idempotency::Safe,
            query: None,
        };
        self.call(incident, &call, deadline).await.map(drop)
    }

    /// An incident's comments, oldest first (CONTRACT §10.2), page by page: while the answer's
    /// `meta.total` says there are more, `?page=2`, `3`, … (CONTRACT §13). A page that adds
    /// nothing new ends the list (an API that ignores `page` answers page 1 again).
    pub async fn list_comments(
        &self,
        incident: IncidentAt<'_>,
        deadline: Deadline,
    ) -> Result<Vec<Comment>, UpstreamError> {
        let mut all: Vec<Comment> = Vec::new();
        for page in 1..=MAX_COMMENT_PAGES {
            let page_text = page.to_string();
            let call = Call {
                method: reqwest::Method::GET,
                leaf: "comments",
                body: None,
                idempotency: Idempotency::Safe,
                query: (page > 1).then_some(("page", page_text.as_str())),
            };
            let answer = self.call(incident, &call, deadline).await?;
            let comments = parse_comments(&answer).ok_or_else(|| {
                UpstreamError::unavailable_after_send(
                    System::ContraForce,
                    "comments answer is not a list",
                )
            })?;
            let before = all.len();
            for comment in comments {
                if !all.iter().any(|c| c.id == comment.id) {
                    all.push(comment);
                }
            }
            let more = total_of(&answer).is_some_and(|total| (all.len() as u64) < total);
            if !more || all.len() == before {
                break;
            }
        }
        sort_oldest_first(&mut all);
        Ok(all)
    }

    /// One call in the configured route shape; in `auto`, a 404 or 405 tries the other shape once
    /// and switches to it when it answers (CONTRACT §8.4).
    async fn call(
        &self,
        incident: IncidentAt<'_>,
        call: &Call<'_>,
        deadline: Deadline,
    ) -> Result<Value, UpstreamError> {
        match self.api.routes {
            ApiRoutes::Source => self.send(Style::Source, incident, call, deadline).await,
            ApiRoutes::Workspace => self.send(Style::Workspace, incident, call, deadline).await,
            ApiRoutes::Auto => {
                if self.style.load(Ordering::Acquire) != SOURCE_UNCONFIRMED {
                    return self.auto(incident, call, deadline).await;
                }
                let _probe = self.probe.lock().await;
                self.auto(incident, call, deadline).await
            }
        }
    }

    async fn auto(
        &self,
        incident: IncidentAt<'_>,
        call: &Call<'_>,
        deadline: Deadline,
    ) -> Result<Value, UpstreamError> {
        let current = match self.style.load(Ordering::Acquire) {
            WORKSPACE_CONFIRMED => Style::Workspace,
            _ => Style::Source,
        };
        let first = self.send(current, incident, call, deadline).await;
        let wrong_style = matches!(
            &first,
            Err(UpstreamError::NotFound { .. } | UpstreamError::Rejected { status: 405, .. })
        );
        if !wrong_style {
            if first.is_ok() {
                self.confirm(current);
            }
            return first;
        }
        let other = current.other();
        let second = self.send(other, incident, call, deadline).await;
        if second.is_ok() {
            self.confirm(other);
        }
        second
    }

    fn confirm(&self, style: Style) {
        let new = match style {
            Style::Source => SOURCE_CONFIRMED,
            Style::Workspace => WORKSPACE_CONFIRMED,
        };
        let old = self.style.swap(new, Ordering::AcqRel);
        let was = if old == WORKSPACE_CONFIRMED {
            Style::Workspace
        } else {
            Style::Source
        };
        if was != style {
            tracing::info!(
                style = ?style,
                "contraforce answers the other route shape: using it from now on (CF_API_ROUTES=auto)"
            );
        }
    }

    async fn send(
        &self,
        style: Style,
        incident: IncidentAt<'_>,
        call: &Call<'_>,
        deadline: Deadline,
    ) -> Result<Value, UpstreamError> {
        let authorization = self.authorization()?;
        let url = self.url(style, incident, call.leaf);
        let attempt = || {
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .header(AUTHORIZATION, authorization.clone());
            if let Some(body) = call.body {
                request = request.json(body);
            }
            if let Some(pair) = call.query {
                request = request.query(&[pair]);
            }
            async move {
                let response = http::send(System::ContraForce, request, deadline).await?;
                // A 201 or 204 may have no body at all.
                let bytes = response.bytes().await.unwrap_or_default();
                Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
            }
        };
        let result = self.retry.run(call.idempotency, deadline, attempt).await;
        if matches!(result, Err(UpstreamError::Unauthorized { .. })) {
            // Perhaps rotated in Key Vault since we last read it.
            self.secrets.authentication_failed();
        }
        result
    }
}

/// One API call, whichever route shape carries it.
struct Call<'a> {
    method: reqwest::Method,
    leaf: &'a str,
    body: Option<&'a Value>,
    idempotency: Idempotency,
    /// One query parameter, when the call has one.
    query: Option<(&'a str, &'a str)>,
}

/// Most pages of one incident's comments read in one go.
const MAX_COMMENT_PAGES: u32 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_are_encoded_except_unreserved_characters() {
        assert_eq!(encode_segment("a|b"), "a%7Cb");
        assert_eq!(encode_segment("x/y?z#w"), "x%2Fy%3Fz%23w");
        assert_eq!(encode_segment("Az09-._~"), "Az09-._~");
        assert_eq!(encode_segment("é "), "%C3%A9%20");
    }

    #[test]
    fn source_slugs_take_the_api_spelling_and_others_pass_as_received() {
        for (slug, spelling) in [
            ("sentinel", "Sentinel"),
            ("DEFENDERXDR", "DefenderXDR"),
            ("defenderxdr", "DefenderXDR"),
            ("crowdstrike", "CrowdStrike"),
            ("sentinelone", "SentinelOne"),
            ("qradar", "QRadar"),
            ("splunk", "Splunk"),
            ("elastic", "elastic"),
            ("My Source", "My Source"),
        ] {
            assert_eq!(api_source(slug), spelling);
        }
    }
}
