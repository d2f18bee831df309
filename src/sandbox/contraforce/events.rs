//! The webhook emitter: POSTs a ContraForce webhook signed the way ContraForce signs it, in the
//! current format (ISO timestamp, base64 MAC) or the samples' (Unix seconds, `sha256=<hex>`),
//! CONTRACT §8.1.

use std::time::Duration;

use serde_json::Value;

use super::FakeContraForce;
use super::comments::{now_millis, now_rfc3339_millis};
use crate::contraforce::webhook::{sign, sign_base64};

/// How long a delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Header names and values, in sending order.
pub type Headers = Vec<(String, String)>;

/// Which documented generation of ContraForce's signature a webhook carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigningFormat {
    /// docs.contraforce.com today: `2026-12-01T19:00:00.123Z` and a base64 MAC.
    #[default]
    Current,
    /// The seed samples: Unix seconds and `sha256=<lowercase hex>`.
    Legacy,
}

/// One webhook delivery to sign and send.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedEvent {
    /// `X-CF-Event-Id`.
    pub event_id: String,
    /// The JSON body, sent as `serde_json::to_vec` bytes; its `type` becomes `X-CF-Schema`.
    pub body: Value,
    /// The webhook's signing secret.
    pub secret: String,
    /// Timestamp and signature encoding.
    pub format: SigningFormat,
    /// Sends `X-CF-Test: true` (a portal test delivery).
    pub test: bool,
    /// Sent verbatim as `Authorization` when set (Basic or Bearer, as configured).
    pub authorization: Option<String>,
    /// `X-CF-Timestamp` to sign with instead of now (replays, skew tests).
    pub timestamp: Option<String>,
}

impl SignedEvent {
    /// A current-format delivery, signed now, without test flag or `Authorization`.
    pub fn new(event_id: impl Into<String>, body: Value, secret: impl Into<String>) -> SignedEvent {
        SignedEvent {
            event_id: event_id.into(),
            body,
            secret: secret.into(),
            format: SigningFormat::Current,
            test: false,
            authorization: None,
            timestamp: None,
        }
    }

    /// The same delivery in another signing format.
    pub fn with_format(mut self, format: SigningFormat) -> SignedEvent {
        self.format = format;
        self
    }

    /// The headers and exact body bytes of a delivery made now.
    pub fn request(&self) -> Result<(Headers, Vec<u8>), String> {
        let body = serde_json::to_vec(&self.body).map_err(|e| format!("event body: {e}"))?;
        let timestamp = self.timestamp.clone().unwrap_or_else(|| match self.format {
            SigningFormat::Current => now_rfc3339_millis(),
            SigningFormat::Legacy => (now_millis() / 1000).to_string(),
        });
        let signature = match self.format {
            SigningFormat::Current => sign_base64(&self.secret, &timestamp, &body),
            SigningFormat::Legacy => sign(&self.secret, &timestamp, &body),
        };
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-CF-Event-Id".to_owned(), self.event_id.clone()),
            ("X-CF-Timestamp".to_owned(), timestamp),
            ("X-CF-Signature".to_owned(), signature),
        ];
        if let Some(schema) = self.body.get("type").and_then(Value::as_str) {
            headers.push(("X-CF-Schema".to_owned(), schema.to_owned()));
        }
        if self.test {
            headers.push(("X-CF-Test".to_owned(), "true".to_owned()));
        }
        if let Some(authorization) = &self.authorization {
            headers.push(("Authorization".to_owned(), authorization.clone()));
        }
        Ok((headers, body))
    }
}

/// POSTs `event` to `url`; the receiver's status and JSON body (`Null` when not JSON).
pub async fn send_event(url: &str, event: &SignedEvent) -> Result<(u16, Value), String> {
    let (headers, body) = event.request()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .map_err(|e| format!("webhook client: {e}"))?;
    let mut request = client.post(url).body(body);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    crate::sandbox::common::deliver(request).await
}

impl FakeContraForce {
    /// POSTs a signed ContraForce webhook to `url` (see [`send_event`]).
    pub async fn send_event(&self, url: &str, event: &SignedEvent) -> Result<(u16, Value), String> {
        send_event(url, event).await
    }
}
