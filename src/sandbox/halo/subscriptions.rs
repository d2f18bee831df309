//! `/api/Webhook`: the webhooks configured on the tenant, as Halo's API shows them, so a client
//! can check that its own subscription exists and has not been switched off.

use serde_json::{Value, json};

use super::error::{ApiResult, forbidden, not_found};
use super::{FakeHalo, HaloService};

/// Halo's answer when the API application may not read webhooks.
pub(super) const NO_WEBHOOK_ACCESS: &str = "You do not have access to Webhooks";

/// A webhook configured on the fake tenant (it is listed, not delivered to: see `send_webhook`).
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    id: String,
    name: String,
    url: String,
    active: bool,
}

impl Subscription {
    /// The object `GET /api/Webhook` lists: a standard (type 0) POST webhook without
    /// authentication, subscribed to ticket updates, which Halo disables after 10 failures.
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": 0,
            "url": self.url,
            "method": 0,
            "authentication_type": 0,
            "active": self.active,
            "auto_disable_attempts": 10,
            "events": [{ "id": 1, "name": "Ticket Updated" }],
        })
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
        });
        id
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
