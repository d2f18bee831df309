//! `/api/Webhook`: the webhooks configured on the tenant, as Halo's API shows them, so a client
//! can check that its own subscription exists and has not been switched off; and
//! `/api/WebhookEvent`: the log of deliveries, with the headers and body each one sent.

use serde_json::{Value, json};

use super::error::{ApiResult, forbidden, not_found};
use super::request::Query;
use super::state::State;
use super::{FakeHalo, HaloService};
use crate::settings::SignatureForm;

/// Halo's answer when the API application may not read webhooks.
pub(super) const NO_WEBHOOK_ACCESS: &str = "You do not have access to Webhooks";

/// A webhook configured on the fake tenant (it is listed, not delivered to: see `send_webhook`).
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    id: String,
    name: String,
    url: String,
    active: bool,
    /// The signature header and form, when Halo signs this webhook.
    signing: Option<(String, SignatureForm)>,
}

/// One delivery, as `GET /api/WebhookEvent` shows it.
#[derive(Debug, Clone)]
pub(super) struct DeliveryRecord {
    pub(super) id: String,
    pub(super) url: String,
    /// `(lower-case name, value)` as sent, the signature header included.
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    pub(super) status: u16,
    pub(super) timestamp: String,
}

impl DeliveryRecord {
    fn json(&self, webhook_id: &str) -> Value {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("{}: {value}", header_case(name)))
            .collect();
        json!({
            "id": self.id,
            "webhook_id": webhook_id,
            "timestamp": self.timestamp,
            "requestheaders": headers.join("\r\n"),
            "requestbody": self.body,
            "responsestatus": self.status,
            "error": !(200..300).contains(&self.status),
        })
    }
}

/// `content-type` → `Content-Type`, as a .NET client writes header names.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl State {
    /// The id of the webhook configured to deliver to `url`.
    pub(super) fn webhook_for(&self, url: &str) -> Option<&str> {
        self.webhooks
            .iter()
            .find(|w| w.url == url)
            .map(|w| w.id.as_str())
    }
}

impl Subscription {
    /// The object `GET /api/Webhook` lists: a standard (type 0) POST webhook without
    /// authentication, subscribed to ticket updates, which Halo disables after 10 failures.
    fn json(&self) -> Value {
        let mut hook = json!({
            "id": self.id,
            "name": self.name,
            "type": 0,
            "url": self.url,
            "method": 0,
            "authentication_type": 0,
            "active": self.active,
            "auto_disable_attempts": 10,
            "events": [{ "id": 1, "name": "Ticket Updated" }],
        });
        if let Some((header, form)) = &self.signing {
            hook["authentication_header"] = json!(header);
            hook["algorithm"] = json!(0);
            hook["digest"] = json!(0);
            hook["signature_prefix"] = json!("sha256=");
            hook["headers_to_sign"] = json!(form.headers);
        }
        hook
    }
}

impl FakeHalo {
    /// Configures a webhook on the tenant (listed by `GET /api/Webhook`); returns its GUID.
    pub fn register_webhook(&self, name: &str, url: &str, active: bool) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.service().state().webhooks.push(Subscription {
            id: id.clone(),
            name: name.to_owned(),
            url: url.to_owned(),
            active,
            signing: None,
        });
        id
    }

    /// Shows a registered webhook as signed with `form` in `header` (what `GET /api/Webhook`
    /// lists: the header and the headers to sign, never the secret).
    ///
    /// # Panics
    /// If no webhook has this id.
    pub fn set_webhook_signing(&self, id: &str, header: &str, form: &SignatureForm) {
        let mut state = self.service().state();
        let hook = state
            .webhooks
            .iter_mut()
            .find(|w| w.id.eq_ignore_ascii_case(id));
        hook.unwrap_or_else(|| panic!("fake Halo has no webhook {id}"))
            .signing = Some((header.to_owned(), form.clone()));
    }

    /// Switches a registered webhook on or off, as Halo does after repeated failed deliveries.
    ///
    /// # Panics
    /// If no webhook has this id.
    pub fn set_webhook_active(&self, id: &str, active: bool) {
        let mut state = self.service().state();
        let hook = state
            .webhooks
            .iter_mut()
            .find(|w| w.id.eq_ignore_ascii_case(id));
        hook.unwrap_or_else(|| panic!("fake Halo has no webhook {id}"))
            .active = active;
    }

    /// Makes `/api/Webhook` answer `403`, as for an API application without that permission.
    pub fn set_webhooks_forbidden(&self, forbidden: bool) {
        self.service().state().webhooks_forbidden = forbidden;
    }
}

impl HaloService {
    /// `GET /api/Webhook` (every webhook, a bare array) or `GET /api/Webhook/{id}` (one).
    pub(super) fn get_webhooks(&self, id: Option<&str>) -> ApiResult {
        let state = self.state();
        if state.webhooks_forbidden {
            return Err(forbidden(NO_WEBHOOK_ACCESS));
        }
        let Some(id) = id else {
            return Ok(state.webhooks.iter().map(Subscription::json).collect());
        };
        // Paths arrive lower-cased, and Halo reads GUIDs in any case.
        state
            .webhooks
            .iter()
            .find(|w| w.id.eq_ignore_ascii_case(id.trim()))
            .map(Subscription::json)
            .ok_or_else(|| not_found("Webhook"))
    }
}

impl HaloService {
    /// `GET /api/WebhookEvent`: deliveries newest first, of one webhook when `webhook_id` is given,
    /// at most `count`.
    pub(super) fn get_webhook_events(&self, query: &Query) -> ApiResult {
        let state = self.state();
        if state.webhooks_forbidden {
            return Err(forbidden(NO_WEBHOOK_ACCESS));
        }
        let wanted = query.get("webhook_id").map(str::trim);
        let count = query.number("count").unwrap_or(usize::MAX);
        let items: Vec<Value> = state
            .webhook_events
            .iter()
            .rev()
            .filter_map(|event| {
                let id = state.webhook_for(&event.url).unwrap_or_default();
                let keep = wanted.is_none_or(|w| w.eq_ignore_ascii_case(id));
                keep.then(|| event.json(id))
            })
            .take(count)
            .collect();
        let total = items.len();
        Ok(state.list("webhookevents", items, total))
    }
}
