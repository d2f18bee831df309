//! The webhook emitter: builds Halo's standard envelope for a ticket event, authenticates it as
//! configured (fixed header, HMAC over the body, or HMAC over signed headers and the body),
//! delivers it, logs it as `GET /WebhookEvent` shows it, and can resend the same bytes.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::json::{styled_id, ticket_json};
use super::subscriptions::DeliveryRecord;
use super::{FakeHalo, HaloService};
use crate::halo::signature::signed_message;
use crate::sandbox::common;
use crate::settings::SignatureForm;

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
    /// The same with "headers to sign": the HMAC covers the string `form` lays out from the
    /// request's `content-length`, `content-type`, `host`, `x-halo-date` … and the body.
    Signed {
        /// Header carrying the signature.
        header: String,
        /// Signing secret.
        secret: String,
        /// What is signed.
        form: SignatureForm,
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
        let envelope = self.service().envelope(url, ticket_id, event)?;
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
    fn envelope(&self, url: &str, ticket_id: u64, event: &str) -> Result<Value, String> {
        let state = self.state();
        let webhook_id = state
            .webhook_for(url)
            .unwrap_or(&self.webhook_id)
            .to_owned();
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
            "webhook_id": webhook_id,
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
        // The headers Halo sends (reqwest adds host and content-length with these values).
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            ("host".into(), host_of(url)),
            ("content-length".into(), raw.len().to_string()),
            (
                "x-halo-date".into(),
                httpdate::fmt_http_date(SystemTime::now()),
            ),
        ];
        match auth {
            WebhookAuth::Header { name, value } => headers.push((name.clone(), value.clone())),
            WebhookAuth::Hmac { header, secret } => {
                headers.push((header.clone(), sign(secret, &raw)))
            }
            WebhookAuth::Signed {
                header,
                secret,
                form,
            } => {
                let value_of = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                let message = signed_message(form, value_of, &raw)
                    .ok_or_else(|| format!("the fake does not send a header {form} signs"))?;
                headers.push((header.clone(), sign(secret, &message)));
            }
            WebhookAuth::None => {}
        }
        let mut request = self.http.post(url);
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let (status, body) = common::deliver(request.body(raw.clone())).await?;
        self.state().webhook_events.push(DeliveryRecord {
            id: uuid::Uuid::new_v4().to_string(),
            url: url.to_owned(),
            headers,
            body: String::from_utf8_lossy(&raw).into_owned(),
            status,
            timestamp: common::now_rfc3339(),
        });
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
    crate::halo::webhook::sign(secret, body)
}

/// `host[:port]` of a URL, as the `Host` header carries it.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or_default().to_owned()
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
