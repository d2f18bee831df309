//! The ContraForce API calls the bridge makes: incident comments and status (CONTRACT §4.3).

use std::sync::Arc;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::http::retry::{Idempotency, RetryPolicy};
use crate::http::{self, Deadline, System, UpstreamError};
use crate::secrets::Secrets;
use crate::settings::HaloToCfSettings;

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

/// Service-account client for one workspace.
pub struct ContraForceClient {
    incidents_url: String,
    client_id: String,
    secrets: Arc<Secrets>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl ContraForceClient {
    /// A client for the configured workspace.
    pub fn new(settings: &HaloToCfSettings, http: reqwest::Client, secrets: Arc<Secrets>) -> Self {
        Self {
            incidents_url: format!(
                "{}/workspaces/{}/incidents",
                settings.cf_api_base_url,
                encode_segment(&settings.cf_workspace_id)
            ),
            client_id: settings.cf_client_id.clone(),
            secrets,
            http,
            retry: RetryPolicy::default(),
        }
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
        let credentials = format!("{}:{}", self.client_id, secret.expose_secret());
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

    fn incident_url(&self, incident_id: &str, leaf: &str) -> String {
        format!(
            "{}/{}/{leaf}",
            self.incidents_url,
            encode_segment(incident_id)
        )
    }

    /// Posts one comment on an incident.
    pub async fn post_comment(
        &self,
        incident_id: &str,
        source: &str,
        content: &str,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let body = json!({ "incidentId": incident_id, "content": content, "source": source });
        // A comment is not idempotent: it is sent again only when certainly not received.
        let url = self.incident_url(incident_id, "comments");
        self.send(
            reqwest::Method::POST,
            &url,
            &body,
            Idempotency::Unsafe,
            deadline,
        )
        .await
    }

    /// Closes an incident.
    pub async fn close_incident(
        &self,
        incident_id: &str,
        source: &str,
        close: &Close<'_>,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let body = json!({
            "incidentId": incident_id,
            "source": source,
            "status": "Closed",
            "comment": close.comment,
            "classification": close.classification,
            "classificationReason": close.reason,
        });
        // Closing twice leaves the incident closed: safe to repeat.
        let url = self.incident_url(incident_id, "status");
        self.send(
            reqwest::Method::PUT,
            &url,
            &body,
            Idempotency::Safe,
            deadline,
        )
        .await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &serde_json::Value,
        idempotency: Idempotency,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let authorization = self.authorization()?;
        let attempt = || {
            let request = self
                .http
                .request(method.clone(), url)
                .header(AUTHORIZATION, authorization.clone())
                .json(body);
            http::send(System::ContraForce, request, deadline)
        };
        let result = self.retry.run(idempotency, deadline, attempt).await;
        if matches!(result, Err(UpstreamError::Unauthorized { .. })) {
            // Perhaps rotated in Key Vault since we last read it.
            self.secrets.authentication_failed();
        }
        result.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::encode_segment;

    #[test]
    fn incident_ids_are_encoded_except_unreserved_characters() {
        assert_eq!(encode_segment("a|b"), "a%7Cb");
        assert_eq!(encode_segment("x/y?z#w"), "x%2Fy%3Fz%23w");
        assert_eq!(encode_segment("Az09-._~"), "Az09-._~");
        assert_eq!(encode_segment("é "), "%C3%A9%20");
    }
}
