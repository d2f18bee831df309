//! The webhook emitter: builds Halo's standard envelope for a ticket event, authenticates it as
//! configured (fixed header or HMAC signature), delivers it, and can resend the same bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::json::{styled_id, ticket_json};
use super::{FakeHalo, HaloService};
use crate::sandbox::common;

/// How [`FakeHalo::send_webhook`] authenticates itself to the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAuth {
    /// A fixed header, e.g. `X-Halo-Secret`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
    /// Halo's "sign request with a secret key": `sha256= <base64 HMAC-SHA256(body)>`.
    Hmac {
        /// Header carrying the signature.
        header: String,
        /// Signing secret.
        secret: String,
    },
    /// No authentication.
    None,
}

/// The outcome of one webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResult {
    /// Receiver's status code.
    pub status: u16,
    /// Receiver's body as JSON, or `Null` when it is not JSON.
    pub body: Value,
    /// The envelope's `id` (Halo's per-delivery GUID).
    pub delivery_id: String,
    /// The exact bytes sent.
    pub raw_body: Vec<u8>,
}

impl FakeHalo {
    /// POSTs a Halo standard-webhook envelope for the ticket to `url`.
    pub async fn send_webhook(
        &self,
        url: &str,
        ticket_id: u64,
        event: &str,
        auth: &WebhookAuth,
    ) -> Result<WebhookResult, String> {
        let envelope = self.service().envelope(ticket_id, event)?;
        let delivery_id = envelope["id"].as_str().unwrap_or_default().to_owned();
        let raw = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
        self.service().deliver(url, raw, delivery_id, auth).await
    }

    /// Re-sends the same bytes and delivery id as an earlier webhook (Halo's "resend").
    pub async fn resend_webhook(
        &self,
        url: &str,
        previous: &WebhookResult,
        auth: &WebhookAuth,
    ) -> Result<WebhookResult, String> {
        self.service()
            .deliver(
                url,
                previous.raw_body.clone(),
                previous.delivery_id.clone(),
                auth,
            )
            .await
    }
}

impl HaloService {
    fn envelope(&self, ticket_id: u64, event: &str) -> Result<Value, String> {
        let state = self.state();
        let ticket = state
            .tickets
            .get(&ticket_id)
            .ok_or_else(|| format!("fake Halo has no ticket {ticket_id}"))?;
        // Halo names the agent behind the event; the latest action's author is the best stand-in.
        let agent_id = state
            .actions
            .get(&ticket_id)
            .and_then(|a| a.last())
            .map_or(state.cfg.integration_agent_id, |a| a.agent_id);
        Ok(json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "webhook_id": self.webhook_id,
            "notification_id": 41,
            "escmsg_id": uuid::Uuid::new_v4().to_string(),
            "event": event,
            "message": event_message(event, ticket_id),
            "object_id": styled_id(ticket_id, state.id_style),
            "agent_id": agent_id,
            "timestamp": common::now_rfc3339(),
            "ticket": ticket_json(ticket, state.id_style),
        }))
    }

    async fn deliver(
        &self,
        url: &str,
        raw: Vec<u8>,
        delivery_id: String,
        auth: &WebhookAuth,
    ) -> Result<WebhookResult, String> {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json");
        match auth {
            WebhookAuth::Header { name, value } => {
                request = request.header(name.as_str(), value.as_str());
            }
            WebhookAuth::Hmac { header, secret } => {
                request = request.header(header.as_str(), sign(secret, &raw));
            }
            WebhookAuth::None => {}
        }
        let (status, body) = common::deliver(request.body(raw.clone())).await?;
        Ok(WebhookResult {
            status,
            body,
            delivery_id,
            raw_body: raw,
        })
    }
}

/// Halo's signature header value: `sha256= ` + base64 HMAC-SHA256 of the body (space included).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256= {}", BASE64.encode(mac.finalize().into_bytes()))
}

fn event_message(event: &str, ticket_id: u64) -> String {
    let lower = event.to_ascii_lowercase();
    if lower.contains("status") {
        format!("The status has been changed for Ticket ID: {ticket_id:07}.")
    } else if lower.contains("new ticket") || lower.contains("logged") {
        format!("A new ticket has been logged with Ticket ID: {ticket_id:07}.")
    } else {
        format!("Event '{event}' occurred for Ticket ID: {ticket_id:07}.")
    }
}
