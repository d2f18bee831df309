//! A stateful fake HaloPSA: OAuth token endpoint, tickets, actions, lookup tables, failure
//! knobs, and a webhook emitter, modelled on `reference/halo.md` §2–§9.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::common::{self, Gate, json, text};
pub use super::common::{Fault, RateLimit, RecordedRequest};

/// Halo's seeded statuses (`GET /api/Status`).
const STATUSES: [(u64, &str); 4] = [
    (1, "New"),
    (2, "In Progress"),
    (9, "Closed"),
    (28, "On Hold"),
];
/// Halo's seeded outcomes (`GET /api/Outcome`): (id, name, hidden from user).
const OUTCOMES: [(u64, &str, bool); 5] = [
    (1, "Note", false),
    (2, "Ticket Logged", false),
    (3, "Email User", false),
    (7, "Private Note", true),
    (8, "Status Change", false),
];
/// The one ticket type the fake knows; creates with any other type are rejected.
const TICKET_TYPE: (u64, &str) = (25, "Security Incident");
/// Who the fake names as the author of records created through the API.
const API_AGENT: &str = "API Agent";
const SYSTEM_AGENT: &str = "System";
const STATUS_CHANGE: &str = "Status Change";
const NO_TICKET_TYPE: &str = "Please select a valid Ticket Type";
const NO_OUTCOME: &str = "An Outcome must be entered for this Action";

/// Settings of a [`FakeHalo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeHaloConfig {
    /// Id of the first ticket created (global sequence).
    pub first_ticket_id: u64,
    /// `expires_in` of issued tokens; a token is refused once it has expired.
    pub token_ttl_secs: u64,
    /// Agent id of records created through the API (the integration's own agent).
    pub integration_agent_id: u64,
    /// Statuses that count as closed (`hasbeenclosed: true`).
    pub closed_status_ids: Vec<u64>,
    /// OAuth client id the token endpoint accepts.
    pub client_id: String,
    /// OAuth client secret the token endpoint accepts.
    pub client_secret: String,
}

impl Default for FakeHaloConfig {
    fn default() -> Self {
        FakeHaloConfig {
            first_ticket_id: 1000,
            token_ttl_secs: 3600,
            integration_agent_id: 12,
            closed_status_ids: vec![9],
            client_id: "sandbox-halo-client".to_owned(),
            client_secret: "sandbox-halo-secret".to_owned(),
        }
    }
}

/// How ticket ids are written in responses: `3`, `3.0` or `"3"` (real Halo mixes all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdStyle {
    /// `3`
    #[default]
    Int,
    /// `3.0`
    Float,
    /// `"3"`
    Str,
}

/// Shape of list responses for tickets, actions and clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListShape {
    /// `{"record_count":n,"tickets":[…]}`
    #[default]
    Wrapped,
    /// `[…]`
    Bare,
}

/// A ticket as the fake stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HaloTicket {
    /// Global ticket id.
    pub id: u64,
    /// Title.
    pub summary: String,
    /// HTML body.
    pub details_html: String,
    /// Ticket type.
    pub tickettype_id: Option<u64>,
    /// Customer.
    pub client_id: Option<u64>,
    /// Priority (within the SLA).
    pub priority_id: Option<u64>,
    /// External reference.
    pub thirdpartynumber: Option<String>,
    /// Custom field values by field id.
    pub customfields: Vec<(u64, Value)>,
    /// Team name.
    pub team: Option<String>,
    /// Category path.
    pub category_1: Option<String>,
    /// Current status.
    pub status_id: u64,
    /// Name of the current status.
    pub status_name: String,
    /// Whether the ticket is closed.
    pub hasbeenclosed: bool,
}

/// An action (note, status change, …) on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HaloAction {
    /// Per-ticket sequence number, starting at 1.
    pub id: u64,
    /// Ticket the action belongs to.
    pub ticket_id: u64,
    /// Outcome name.
    pub outcome: String,
    /// Author's display name.
    pub who: String,
    /// Author's agent id.
    pub agent_id: u64,
    /// Private note.
    pub hiddenfromuser: bool,
    /// Plain-text note.
    pub note: String,
    /// HTML note.
    pub note_html: String,
    /// System action (dropped by `excludesys=true`).
    pub system: bool,
    /// When it was written (RFC 3339, UTC).
    pub datetime: String,
}

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

/// A running fake HaloPSA; clones share the same server and state.
#[derive(Clone)]
pub struct FakeHalo {
    inner: Arc<Inner>,
    port: u16,
    handle: ServerHandle,
}

struct Inner {
    state: Mutex<State>,
    gate: Gate,
    http: reqwest::Client,
    webhook_id: String,
}

struct State {
    cfg: FakeHaloConfig,
    next_ticket_id: u64,
    tickets: BTreeMap<u64, HaloTicket>,
    actions: BTreeMap<u64, Vec<HaloAction>>,
    /// Issued access tokens and when each expires.
    tokens: HashMap<String, Instant>,
    reject_creates: Option<String>,
    ignore_lookup_filter: bool,
    list_shape: ListShape,
    id_style: IdStyle,
}

/// What an action write carries, before it gets an id.
struct ActionDraft {
    outcome: String,
    who: String,
    agent_id: u64,
    hiddenfromuser: bool,
    note: String,
    note_html: String,
    system: bool,
}

/// A failed API request: the answer to send.
type ApiResult = Result<Value, ApiError>;

impl FakeHalo {
    /// Starts a fake Halo on a free loopback port.
    pub async fn start(cfg: FakeHaloConfig) -> io::Result<FakeHalo> {
        FakeHalo::start_on(0, cfg).await
    }

    /// Starts a fake Halo on `port` (0 = a free port).
    pub async fn start_on(port: u16, cfg: FakeHaloConfig) -> io::Result<FakeHalo> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(io::Error::other)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(cfg)),
            gate: Gate::default(),
            http,
            webhook_id: uuid::Uuid::new_v4().to_string(),
        });
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(dispatch))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", port))?;
        let port = common::bound_port(&server.addrs())?;
        let handle = common::spawn(server.run());
        Ok(FakeHalo {
            inner,
            port,
            handle,
        })
    }

    /// Stops the server (state stays readable).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The authorisation server, `{base}/auth` (the token endpoint is `{auth}/token`).
    pub fn auth_url(&self) -> String {
        format!("{}/auth", self.base_url())
    }

    /// The resource server, `{base}/api`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url())
    }

    /// The configuration the fake was started with.
    pub fn config(&self) -> FakeHaloConfig {
        self.state().cfg.clone()
    }

    /// All tickets, by id.
    pub fn tickets(&self) -> Vec<HaloTicket> {
        self.state().tickets.values().cloned().collect()
    }

    /// One ticket.
    pub fn ticket(&self, id: u64) -> Option<HaloTicket> {
        self.state().tickets.get(&id).cloned()
    }

    /// A ticket's actions, oldest first (empty for an unknown ticket).
    pub fn actions(&self, ticket_id: u64) -> Vec<HaloAction> {
        self.state()
            .actions
            .get(&ticket_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every `/auth` and `/api` request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.gate.requests()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.inner.gate.clear_requests();
    }

    /// Logged requests with this method whose path starts with `path_prefix` (case-insensitive).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.inner.gate.count(method, path_prefix)
    }

    /// Calls to the token endpoint, whatever they were answered.
    pub fn token_requests(&self) -> usize {
        self.count("POST", "/auth/token")
    }

    /// Calls to `/api/...`.
    pub fn api_requests(&self) -> usize {
        self.inner.gate.count_path("/api")
    }

    /// Seeds a ticket directly (not logged); returns its id. Like an API create, it gets action 1.
    pub fn insert_ticket(&self, summary: &str, thirdpartynumber: Option<&str>) -> u64 {
        let mut state = self.state();
        let mut ticket = state.blank_ticket();
        ticket.summary = summary.to_owned();
        ticket.tickettype_id = Some(TICKET_TYPE.0);
        ticket.client_id = Some(1);
        ticket.thirdpartynumber = thirdpartynumber.map(str::to_owned);
        state.insert_new(ticket)
    }

    /// Sets (or replaces) a custom field value.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn set_custom_field(&self, ticket_id: u64, field_id: u64, value: Value) {
        let mut state = self.state();
        let ticket = state.ticket_mut(ticket_id);
        set_field(&mut ticket.customfields, field_id, value);
    }

    /// Adds a note by an agent; returns the action id. `note` is `note_html` without tags.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn add_agent_note(
        &self,
        ticket_id: u64,
        who: &str,
        agent_id: u64,
        note_html: &str,
        hidden: bool,
    ) -> u64 {
        let draft = ActionDraft {
            outcome: "Note".to_owned(),
            who: who.to_owned(),
            agent_id,
            hiddenfromuser: hidden,
            note: html_to_text(note_html),
            note_html: note_html.to_owned(),
            system: false,
        };
        expect_ticket(self.state().push_action(ticket_id, draft), ticket_id)
    }

    /// Adds a system action (dropped by `excludesys=true`); returns its id.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn add_system_action(&self, ticket_id: u64, outcome: &str) -> u64 {
        let draft = ActionDraft::system(outcome, String::new());
        expect_ticket(self.state().push_action(ticket_id, draft), ticket_id)
    }

    /// Closes the ticket (status 9) and logs a system "Status Change" action.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn close(&self, ticket_id: u64) {
        expect_ticket(self.state().change_status(ticket_id, 9, true), ticket_id);
    }

    /// Re-opens the ticket (status 2 "In Progress") and logs a system "Status Change" action.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn reopen(&self, ticket_id: u64) {
        expect_ticket(self.state().change_status(ticket_id, 2, true), ticket_id);
    }

    /// Sets the status silently (no action); closed-ness follows the configured closed set.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn set_status(&self, ticket_id: u64, status_id: u64, status_name: &str) {
        let mut state = self.state();
        let closed = state.cfg.closed_status_ids.contains(&status_id);
        let ticket = state.ticket_mut(ticket_id);
        ticket.status_id = status_id;
        ticket.status_name = status_name.to_owned();
        ticket.hasbeenclosed = closed;
    }

    /// Invalidates every issued token: the next `/api` call gets 401.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Delays every `/auth` and `/api` answer by `d`.
    pub fn set_delay(&self, d: Duration) {
        self.inner.gate.set_delay(d);
    }

    /// While down, every `/auth` and `/api` request gets 503.
    pub fn set_down(&self, down: bool) {
        self.inner.gate.set_down(down);
    }

    /// Queues a fault: the next matching request gets it instead of normal service.
    pub fn push_fault(&self, f: Fault) {
        self.inner.gate.push_fault(f);
    }

    /// Sets (`Some`) or lifts (`None`) a rolling-window rate limit on every `/auth` and `/api`
    /// request (`/_sandbox` is exempt); the window starts empty. See [`RateLimit`] for how
    /// requests are counted and why a client pacing itself to the limit never sees a `429`.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.inner.gate.set_rate_limit(limit);
    }

    /// How many requests the rate limiter answered `429` (queued `429` faults not included).
    /// Counts for the life of the fake: neither `clear_requests` nor `set_rate_limit` resets it.
    pub fn rate_limited_count(&self) -> usize {
        self.inner.gate.rate_limited_count()
    }

    /// Makes every ticket create fail with 400 and this message (`None` = normal service).
    pub fn set_reject_creates(&self, msg: Option<String>) {
        self.state().reject_creates = msg;
    }

    /// Models a Halo that ignores unknown list filters and returns all tickets.
    pub fn set_ignore_lookup_filter(&self, on: bool) {
        self.state().ignore_lookup_filter = on;
    }

    /// Wrapped or bare list responses.
    pub fn set_list_shape(&self, s: ListShape) {
        self.state().list_shape = s;
    }

    /// How ticket ids are written in responses.
    pub fn set_id_style(&self, s: IdStyle) {
        self.state().id_style = s;
    }

    /// POSTs a Halo standard-webhook envelope for the ticket to `url`.
    pub async fn send_webhook(
        &self,
        url: &str,
        ticket_id: u64,
        event: &str,
        auth: &WebhookAuth,
    ) -> Result<WebhookResult, String> {
        let envelope = self.envelope(ticket_id, event)?;
        let delivery_id = envelope["id"].as_str().unwrap_or_default().to_owned();
        let raw = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
        self.deliver(url, raw, delivery_id, auth).await
    }

    /// Re-sends the same bytes and delivery id as an earlier webhook (Halo's "resend").
    pub async fn resend_webhook(
        &self,
        url: &str,
        previous: &WebhookResult,
        auth: &WebhookAuth,
    ) -> Result<WebhookResult, String> {
        self.deliver(
            url,
            previous.raw_body.clone(),
            previous.delivery_id.clone(),
            auth,
        )
        .await
    }

    fn state(&self) -> MutexGuard<'_, State> {
        common::lock(&self.inner.state)
    }

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
            "webhook_id": self.inner.webhook_id,
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
            .inner
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
        let response = request
            .body(raw.clone())
            .send()
            .await
            .map_err(|e| format!("webhook delivery failed: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("webhook response unreadable: {e}"))?;
        Ok(WebhookResult {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
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

fn expect_ticket<T>(found: Option<T>, ticket_id: u64) -> T {
    found.unwrap_or_else(|| panic!("fake Halo has no ticket {ticket_id}"))
}

impl ActionDraft {
    fn system(outcome: &str, note: String) -> ActionDraft {
        ActionDraft {
            outcome: outcome.to_owned(),
            who: SYSTEM_AGENT.to_owned(),
            agent_id: 0,
            hiddenfromuser: false,
            note_html: html_escape::encode_text(&note).into_owned(),
            note,
            system: true,
        }
    }
}

impl State {
    fn new(cfg: FakeHaloConfig) -> State {
        State {
            next_ticket_id: cfg.first_ticket_id,
            cfg,
            tickets: BTreeMap::new(),
            actions: BTreeMap::new(),
            tokens: HashMap::new(),
            reject_creates: None,
            ignore_lookup_filter: false,
            list_shape: ListShape::default(),
            id_style: IdStyle::default(),
        }
    }

    fn ticket_mut(&mut self, id: u64) -> &mut HaloTicket {
        expect_ticket(self.tickets.get_mut(&id), id)
    }

    /// A new ticket with the next id and Halo's initial status; not yet stored.
    fn blank_ticket(&mut self) -> HaloTicket {
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        HaloTicket {
            id,
            summary: String::new(),
            details_html: String::new(),
            tickettype_id: None,
            client_id: None,
            priority_id: None,
            thirdpartynumber: None,
            customfields: Vec::new(),
            team: None,
            category_1: None,
            status_id: 1,
            status_name: status_name(1),
            hasbeenclosed: false,
        }
    }

    /// Stores a new ticket and logs its creation as action 1, as Halo does.
    fn insert_new(&mut self, ticket: HaloTicket) -> u64 {
        let id = ticket.id;
        self.tickets.insert(id, ticket);
        let logged = ActionDraft {
            outcome: "Ticket Logged".to_owned(),
            who: API_AGENT.to_owned(),
            agent_id: self.cfg.integration_agent_id,
            hiddenfromuser: false,
            note: String::new(),
            note_html: String::new(),
            system: false,
        };
        self.push_action(id, logged);
        id
    }

    /// Appends an action with the next per-ticket id; `None` if the ticket does not exist.
    fn push_action(&mut self, ticket_id: u64, draft: ActionDraft) -> Option<u64> {
        if !self.tickets.contains_key(&ticket_id) {
            return None;
        }
        let list = self.actions.entry(ticket_id).or_default();
        let id = list.iter().map(|a| a.id).max().unwrap_or(0) + 1;
        list.push(HaloAction {
            id,
            ticket_id,
            outcome: draft.outcome,
            who: draft.who,
            agent_id: draft.agent_id,
            hiddenfromuser: draft.hiddenfromuser,
            note: draft.note,
            note_html: draft.note_html,
            system: draft.system,
            datetime: common::now_rfc3339(),
        });
        Some(id)
    }

    /// Sets a status by id, keeping `hasbeenclosed` in step; optionally logs a system action.
    fn change_status(&mut self, ticket_id: u64, status_id: u64, log: bool) -> Option<()> {
        let closed = self.cfg.closed_status_ids.contains(&status_id);
        let ticket = self.tickets.get_mut(&ticket_id)?;
        let old = std::mem::replace(&mut ticket.status_name, status_name(status_id));
        ticket.status_id = status_id;
        ticket.hasbeenclosed = closed;
        if log {
            let note = format!("Status changed from {old} to {}", status_name(status_id));
            self.push_action(ticket_id, ActionDraft::system(STATUS_CHANGE, note));
        }
        Some(())
    }

    fn token_is_live(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    fn list(&self, key: &str, items: Vec<Value>, total: usize) -> Value {
        match self.list_shape {
            ListShape::Bare => Value::Array(items),
            ListShape::Wrapped => {
                let mut wrapper = Map::new();
                wrapper.insert("record_count".to_owned(), json!(total));
                wrapper.insert(key.to_owned(), Value::Array(items));
                Value::Object(wrapper)
            }
        }
    }
}

fn status_name(id: u64) -> String {
    STATUSES
        .iter()
        .find(|(sid, _)| *sid == id)
        .map_or_else(|| format!("Status {id}"), |(_, name)| (*name).to_owned())
}

fn styled_id(id: u64, style: IdStyle) -> Value {
    match style {
        IdStyle::Int => json!(id),
        // u64 → f64 is exact for any id the fake will ever hand out.
        IdStyle::Float => serde_json::Number::from_f64(id as f64).map_or(json!(id), Value::Number),
        IdStyle::Str => json!(id.to_string()),
    }
}

/// A ticket as the API writes it (the subset of Halo's hundreds of fields the bridge uses).
fn ticket_json(t: &HaloTicket, style: IdStyle) -> Value {
    let customfields: Vec<Value> = t
        .customfields
        .iter()
        .map(|(id, value)| json!({ "id": id, "name": format!("CF{id}"), "value": value }))
        .collect();
    let mut obj = json!({
        "id": styled_id(t.id, style),
        "summary": t.summary,
        "details": html_to_text(&t.details_html),
        "details_html": t.details_html,
        "status_id": t.status_id,
        "status_name": t.status_name,
        "hasbeenclosed": t.hasbeenclosed,
        "customfields": customfields,
        "use": "ticket",
    });
    let optional = [
        ("tickettype_id", t.tickettype_id.map(Value::from)),
        ("client_id", t.client_id.map(Value::from)),
        ("priority_id", t.priority_id.map(Value::from)),
        (
            "thirdpartynumber",
            t.thirdpartynumber.clone().map(Value::from),
        ),
        ("team", t.team.clone().map(Value::from)),
        ("category_1", t.category_1.clone().map(Value::from)),
    ];
    if let Value::Object(map) = &mut obj {
        for (key, value) in optional {
            if let Some(value) = value {
                map.insert(key.to_owned(), value);
            }
        }
    }
    obj
}

fn action_json(a: &HaloAction, style: IdStyle, with_html: bool) -> Value {
    let mut obj = json!({
        "id": a.id,
        "ticket_id": styled_id(a.ticket_id, style),
        "outcome": a.outcome,
        "who": a.who,
        "agent_id": a.agent_id,
        "who_agentid": a.agent_id,
        "hiddenfromuser": a.hiddenfromuser,
        "note": a.note,
        "datetime": a.datetime,
    });
    if with_html && let Value::Object(map) = &mut obj {
        map.insert("note_html".to_owned(), json!(a.note_html));
    }
    obj
}

/// Plain text from HTML, enough for a fake: line breaks at `<br>` and block ends, tags dropped.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = rest[start + 1..start + len].trim().to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" || tag == "/div" || tag == "/li" {
            out.push('\n');
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    html_escape::decode_html_entities(&out).trim().to_owned()
}

/// Replaces or appends a custom field value.
fn set_field(fields: &mut Vec<(u64, Value)>, id: u64, value: Value) {
    match fields.iter_mut().find(|(fid, _)| *fid == id) {
        Some(slot) => slot.1 = value,
        None => fields.push((id, value)),
    }
}

// ---------------------------------------------------------------- HTTP surface

/// Every request lands here: paths are matched case-insensitively, as Halo does.
async fn dispatch(req: HttpRequest, body: web::Bytes, fake: web::Data<Inner>) -> HttpResponse {
    let path = req.path().trim_end_matches('/').to_ascii_lowercase();
    if let Some(control) = path.strip_prefix("/_sandbox") {
        return fake.control(req.method().as_str(), control, &body);
    }
    let response = fake.serve(&req, &path, &body).await;
    fake.gate.record(&req, &body, &response);
    response
}

/// Parsed query string with case-insensitive keys.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Query {
        // A malformed query is treated as empty: Halo ignores what it does not understand.
        let pairs = web::Query::<Vec<(String, String)>>::from_query(raw)
            .map(web::Query::into_inner)
            .unwrap_or_default();
        Query(pairs)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn number(&self, key: &str) -> Option<usize> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// An error answer. Kept apart from `HttpResponse`, which is too large to pass around in `Result`s.
enum ApiError {
    Json(u16, Value),
    /// Halo answers some validation failures with a bare human message.
    Text(u16, &'static str),
}

impl ApiError {
    fn into_response(self) -> HttpResponse {
        match self {
            ApiError::Json(status, body) => json(status, body),
            ApiError::Text(status, message) => text(status, message),
        }
    }
}

fn halo_error(status: u16, message: &str) -> ApiError {
    ApiError::Json(
        status,
        json!({ "ClassName": "HaloValidationException", "Message": message }),
    )
}

fn not_found(what: &str) -> ApiError {
    ApiError::Json(
        404,
        json!({ "ClassName": "HaloNotFoundException", "Message": format!("{what} not found") }),
    )
}

fn no_route() -> ApiError {
    ApiError::Json(404, json!({ "error": "not found" }))
}

fn method_not_allowed() -> ApiError {
    ApiError::Json(405, json!({ "error": "method not allowed" }))
}

fn bad_json() -> ApiError {
    halo_error(400, "The request body is not valid JSON")
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        common::lock(&self.state)
    }

    async fn serve(&self, req: &HttpRequest, path: &str, body: &[u8]) -> HttpResponse {
        let method = req.method().as_str();
        let down = json!({ "error": "service unavailable" });
        if let Some(response) = self.gate.intercept(method, path, down).await {
            return response;
        }
        let query = Query::parse(req.query_string());
        if path == "/auth/token" {
            return match method {
                "POST" => self.token(&query, body),
                _ => method_not_allowed().into_response(),
            };
        }
        let Some(resource) = path.strip_prefix("/api/") else {
            return no_route().into_response();
        };
        if resource == "authinfo" {
            return authinfo(req);
        }
        if !self.authorized(req) {
            return HttpResponse::Unauthorized()
                .insert_header((WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
                .json(json!({ "error": "invalid_token" }));
        }
        match self.api(method, resource, &query, body) {
            Ok(value) => json(200, value),
            Err(err) => err.into_response(),
        }
    }

    fn api(&self, method: &str, resource: &str, query: &Query, body: &[u8]) -> ApiResult {
        let segments: Vec<&str> = resource.split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["tickets"]) => Ok(self.list_tickets(query)),
            ("GET", ["tickets", id]) => self.get_ticket(id),
            ("POST", ["tickets"]) => self.post_tickets(query, body),
            ("GET", ["actions"]) => self.list_actions(query),
            ("GET", ["actions", id]) => self.get_action(id, query),
            ("POST", ["actions"]) => self.post_actions(query, body),
            ("GET", [table]) => self.lookup_table(table).ok_or_else(no_route),
            (_, ["tickets" | "actions", ..]) => Err(method_not_allowed()),
            _ => Err(no_route()),
        }
    }

    fn authorized(&self, req: &HttpRequest) -> bool {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        token.is_some_and(|t| self.state().token_is_live(t))
    }

    /// `POST /auth/token`: client credentials only; tenant accepted from the form or the query.
    fn token(&self, query: &Query, body: &[u8]) -> HttpResponse {
        let form = Query::parse(&String::from_utf8_lossy(body));
        if form.get("grant_type") != Some("client_credentials") {
            return json(400, json!({ "error": "unsupported_grant_type" }));
        }
        let mut state = self.state();
        let cfg = &state.cfg;
        if form.get("client_id") != Some(cfg.client_id.as_str())
            || form.get("client_secret") != Some(cfg.client_secret.as_str())
        {
            return json(
                401,
                json!({
                    "error": "invalid_client",
                    "error_description": "The specified client credentials are invalid.",
                }),
            );
        }
        let ttl = cfg.token_ttl_secs;
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        state
            .tokens
            .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
        let tenant = form.get("tenant").or_else(|| query.get("tenant"));
        tracing::debug!(?tenant, "fake Halo issued a token");
        json(
            200,
            json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": "all",
                "refresh_token": uuid::Uuid::new_v4().simple().to_string(),
                "id_token": uuid::Uuid::new_v4().simple().to_string(),
            }),
        )
    }

    fn list_tickets(&self, query: &Query) -> Value {
        let state = self.state();
        let filters = if state.ignore_lookup_filter {
            Vec::new()
        } else {
            lookup_filters(query)
        };
        let hits: Vec<&HaloTicket> = state
            .tickets
            .values()
            .rev()
            .filter(|t| filters.iter().all(|f| f.matches(t)))
            .collect();
        let total = hits.len();
        let page = page_of(hits, query);
        let items = page
            .iter()
            .map(|t| ticket_json(t, state.id_style))
            .collect();
        state.list("tickets", items, total)
    }

    fn get_ticket(&self, id: &str) -> ApiResult {
        let state = self.state();
        parse_path_id(id)
            .and_then(|id| state.tickets.get(&id))
            .map(|t| ticket_json(t, state.id_style))
            .ok_or_else(|| not_found("Ticket"))
    }

    /// `POST /api/Tickets`: create (no id / id 0) or update (existing id), validated as a batch.
    fn post_tickets(&self, query: &Query, body: &[u8]) -> ApiResult {
        let elements = batch(body)?;
        let mut state = self.state();
        let mut writes = Vec::with_capacity(elements.len());
        for element in &elements {
            writes.push(state.validate_ticket_write(element)?);
        }
        let style = state.id_style;
        let results = writes
            .into_iter()
            .map(|write| {
                let (id, isnew) = state.apply_ticket_write(write);
                let mut obj = ticket_json(&state.tickets[&id], style);
                obj["isnew"] = json!(isnew);
                obj
            })
            .collect();
        Ok(batch_answer(results, query))
    }

    fn list_actions(&self, query: &Query) -> ApiResult {
        let ticket_id = required_ticket_id(query)?;
        let state = self.state();
        if !state.tickets.contains_key(&ticket_id) {
            return Err(not_found("Ticket"));
        }
        let exclude_sys = query.flag("excludesys");
        let with_html = query.flag("includehtmlnote");
        let items: Vec<Value> = state
            .actions
            .get(&ticket_id)
            .into_iter()
            .flatten()
            .filter(|a| !(exclude_sys && a.system))
            .map(|a| action_json(a, state.id_style, with_html))
            .collect();
        Ok(match state.list_shape {
            ListShape::Bare => Value::Array(items),
            ListShape::Wrapped => json!({
                "ticket_id": styled_id(ticket_id, state.id_style),
                "record_count": items.len(),
                "actions": items,
            }),
        })
    }

    fn get_action(&self, id: &str, query: &Query) -> ApiResult {
        let ticket_id = required_ticket_id(query)?;
        let state = self.state();
        let id = parse_path_id(id).ok_or_else(|| not_found("Action"))?;
        state
            .actions
            .get(&ticket_id)
            .and_then(|list| list.iter().find(|a| a.id == id))
            .map(|a| action_json(a, state.id_style, true))
            .ok_or_else(|| not_found("Action"))
    }

    /// `POST /api/Actions`: adds notes (and status changes through `new_status`).
    fn post_actions(&self, query: &Query, body: &[u8]) -> ApiResult {
        let elements = batch(body)?;
        let mut state = self.state();
        let mut writes = Vec::with_capacity(elements.len());
        for element in &elements {
            writes.push(state.validate_action_write(element)?);
        }
        let style = state.id_style;
        let results = writes
            .into_iter()
            .map(|(ticket_id, draft, new_status)| {
                // Validation proved the ticket exists, so the push cannot miss.
                let id = state.push_action(ticket_id, draft).unwrap_or_default();
                if let Some(status) = new_status {
                    state.change_status(ticket_id, status, false);
                }
                let action = state.actions[&ticket_id].iter().find(|a| a.id == id);
                let mut obj = action.map_or(Value::Null, |a| action_json(a, style, true));
                if let Some(status) = new_status {
                    obj["new_status"] = json!(status);
                    obj["new_status_name"] = json!(status_name(status));
                }
                obj
            })
            .collect();
        Ok(batch_answer(results, query))
    }

    fn lookup_table(&self, table: &str) -> Option<Value> {
        let rows = match table {
            "status" => STATUSES
                .iter()
                .map(|(id, name)| json!({ "id": id, "name": name, "type": "ticket" }))
                .collect(),
            "outcome" => OUTCOMES
                .iter()
                .map(|(id, name, hidden)| {
                    json!({ "id": id, "outcome": name, "buttonname": name, "hidefromuser": hidden })
                })
                .collect(),
            "tickettype" => vec![json!({ "id": TICKET_TYPE.0, "name": TICKET_TYPE.1, "initial_status": 1 })],
            "priority" => ["Critical", "High", "Medium", "Low"]
                .iter()
                .zip(1u64..)
                .map(|(name, pid)| {
                    json!({
                        "id": format!("7c1e2b3a-0000-4000-8000-00000000000{pid}"),
                        "slaid": 1,
                        "priorityid": pid,
                        "name": name,
                    })
                })
                .collect(),
            "team" => vec![json!({ "id": 5, "name": "SOC" })],
            "client" => {
                let clients = vec![json!({ "id": 1, "name": "Example MSP" })];
                return Some(self.state().list("clients", clients, 1));
            }
            _ => return None,
        };
        Some(Value::Array(rows))
    }

    /// `/_sandbox/...`: manual control from the CLI; not logged, no auth.
    fn control(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["requests"]) => json(200, json!(self.gate.requests())),
            ("GET", ["tickets"]) => {
                let state = self.state();
                let tickets: Vec<Value> = state
                    .tickets
                    .values()
                    .map(|t| ticket_json(t, IdStyle::Int))
                    .collect();
                json(200, json!(tickets))
            }
            ("GET", ["tickets", id, "actions"]) => self.control_actions(id),
            ("POST", ["tickets", id, "notes"]) => self.control_note(id, body),
            ("POST", ["tickets", id, "close"]) => self.control_status(id, 9),
            ("POST", ["tickets", id, "reopen"]) => self.control_status(id, 2),
            _ => json(404, json!({ "error": "not found" })),
        }
    }

    fn control_actions(&self, id: &str) -> HttpResponse {
        let state = self.state();
        match parse_path_id(id).and_then(|id| state.actions.get(&id)) {
            Some(actions) => json(200, json!(actions)),
            None => json(404, json!({ "error": "no such ticket" })),
        }
    }

    fn control_note(&self, id: &str, body: &[u8]) -> HttpResponse {
        let Ok(Value::Object(note)) = serde_json::from_slice::<Value>(body) else {
            return json(400, json!({ "error": "body must be a JSON object" }));
        };
        let Some(text) = note.get("note").and_then(Value::as_str) else {
            return json(400, json!({ "error": "note is required" }));
        };
        let draft = ActionDraft {
            outcome: "Note".to_owned(),
            who: note
                .get("who")
                .and_then(Value::as_str)
                .unwrap_or("Jane Tech")
                .to_owned(),
            agent_id: note.get("agent_id").and_then(as_id).unwrap_or(3),
            hiddenfromuser: note.get("hidden").and_then(Value::as_bool).unwrap_or(false),
            note: html_to_text(text),
            note_html: text.to_owned(),
            system: false,
        };
        let pushed = parse_path_id(id).and_then(|id| self.state().push_action(id, draft));
        match pushed {
            Some(action_id) => json(200, json!({ "actionId": action_id })),
            None => json(404, json!({ "error": "no such ticket" })),
        }
    }

    fn control_status(&self, id: &str, status: u64) -> HttpResponse {
        let mut state = self.state();
        let Some(id) = parse_path_id(id) else {
            return json(404, json!({ "error": "no such ticket" }));
        };
        match state.change_status(id, status, true) {
            Some(()) => json(200, ticket_json(&state.tickets[&id], IdStyle::Int)),
            None => json(404, json!({ "error": "no such ticket" })),
        }
    }
}

fn authinfo(req: &HttpRequest) -> HttpResponse {
    let conn = req.connection_info();
    let auth_url = format!("{}://{}/auth", conn.scheme(), conn.host());
    json(200, json!({ "auth_url": auth_url, "tenant_id": "" }))
}

/// A list filter the fake understands.
enum LookupFilter {
    ThirdParty(String),
    CustomField(u64, String),
}

impl LookupFilter {
    fn matches(&self, t: &HaloTicket) -> bool {
        match self {
            LookupFilter::ThirdParty(want) => t.thirdpartynumber.as_deref() == Some(want.as_str()),
            LookupFilter::CustomField(fid, want) => t
                .customfields
                .iter()
                .any(|(id, value)| id == fid && value_text(value) == *want),
        }
    }
}

fn lookup_filters(query: &Query) -> Vec<LookupFilter> {
    query
        .0
        .iter()
        .filter_map(|(key, value)| {
            let key = key.to_ascii_lowercase();
            if key == "thirdpartynumber" {
                return Some(LookupFilter::ThirdParty(value.clone()));
            }
            let fid = key.strip_prefix("searchcustomfield_")?.parse().ok()?;
            Some(LookupFilter::CustomField(fid, value.clone()))
        })
        .collect()
}

/// Applies `pageinate/page_size/page_no`, else `count`.
fn page_of<T>(items: Vec<T>, query: &Query) -> Vec<T> {
    if query.flag("pageinate") {
        let size = query.number("page_size").unwrap_or(50).max(1);
        let page = query.number("page_no").unwrap_or(1).max(1);
        return items
            .into_iter()
            .skip((page - 1) * size)
            .take(size)
            .collect();
    }
    match query.number("count") {
        Some(count) => items.into_iter().take(count).collect(),
        None => items,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON number, whole float or numeric string as an id (Halo writes ids all three ways).
fn as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_path_id(segment: &str) -> Option<u64> {
    segment.trim().parse().ok()
}

fn required_ticket_id(query: &Query) -> Result<u64, ApiError> {
    query
        .get("ticket_id")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| halo_error(400, "A valid ticket_id must be supplied"))
}

/// The body of a create/update POST: an array of objects, or one bare object.
fn batch(body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    match serde_json::from_slice::<Value>(body).map_err(|_| bad_json())? {
        Value::Object(obj) => Ok(vec![obj]),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::Object(obj) => Ok(obj),
                _ => Err(halo_error(400, "Each element must be an object")),
            })
            .collect(),
        _ => Err(halo_error(400, "Expected an array of objects")),
    }
}

/// Halo answers a batch with its last result, or with all of them under `returnall=true`.
fn batch_answer(mut results: Vec<Value>, query: &Query) -> Value {
    if query.flag("returnall") {
        Value::Array(results)
    } else {
        results.pop().unwrap_or(Value::Null)
    }
}

/// An optional id field: absent/null → `None`; present but not an id → a 400.
fn opt_id(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_id(v)
            .map(Some)
            .ok_or_else(|| halo_error(400, &format!("{key} must be a whole number"))),
    }
}

fn opt_text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::Null => None,
        v => Some(value_text(v)),
    }
}

/// `customfields: [{id, value}]` (or `{name: "CF<id>", value}`) as (id, value) pairs.
fn custom_fields(obj: &Map<String, Value>) -> Result<Vec<(u64, Value)>, ApiError> {
    let Some(list) = obj.get("customfields") else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(halo_error(400, "customfields must be an array"));
    };
    list.iter()
        .map(|field| {
            let id = field.get("id").and_then(as_id).or_else(|| {
                let name = field.get("name")?.as_str()?;
                name.get(2..)?.parse().ok()
            });
            let id = id.ok_or_else(|| halo_error(400, "Custom field id is required"))?;
            Ok((id, field.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

/// A validated ticket write.
enum TicketWrite {
    Create(HaloTicketFields),
    Update(u64, HaloTicketFields),
}

/// Ticket fields present in a request (`None` = not supplied).
#[derive(Default)]
struct HaloTicketFields {
    summary: Option<String>,
    details_html: Option<String>,
    tickettype_id: Option<u64>,
    client_id: Option<u64>,
    priority_id: Option<u64>,
    thirdpartynumber: Option<String>,
    customfields: Vec<(u64, Value)>,
    team: Option<String>,
    category_1: Option<String>,
    status_id: Option<u64>,
}

impl HaloTicketFields {
    fn parse(obj: &Map<String, Value>) -> Result<HaloTicketFields, ApiError> {
        Ok(HaloTicketFields {
            summary: opt_text(obj, "summary"),
            details_html: opt_text(obj, "details_html").or_else(|| opt_text(obj, "details")),
            tickettype_id: opt_id(obj, "tickettype_id")?,
            client_id: opt_id(obj, "client_id")?,
            priority_id: opt_id(obj, "priority_id")?,
            thirdpartynumber: opt_text(obj, "thirdpartynumber"),
            customfields: custom_fields(obj)?,
            team: opt_text(obj, "team"),
            category_1: opt_text(obj, "category_1"),
            status_id: opt_id(obj, "status_id")?,
        })
    }

    fn apply_to(self, t: &mut HaloTicket) {
        fn put<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        put(&mut t.summary, self.summary);
        put(&mut t.details_html, self.details_html);
        put(&mut t.tickettype_id, self.tickettype_id.map(Some));
        put(&mut t.client_id, self.client_id.map(Some));
        put(&mut t.priority_id, self.priority_id.map(Some));
        put(&mut t.thirdpartynumber, self.thirdpartynumber.map(Some));
        put(&mut t.team, self.team.map(Some));
        put(&mut t.category_1, self.category_1.map(Some));
        for (id, value) in self.customfields {
            set_field(&mut t.customfields, id, value);
        }
    }
}

impl State {
    fn validate_ticket_write(&self, obj: &Map<String, Value>) -> Result<TicketWrite, ApiError> {
        let fields = HaloTicketFields::parse(obj)?;
        match opt_id(obj, "id")?.filter(|id| *id != 0) {
            Some(id) if self.tickets.contains_key(&id) => Ok(TicketWrite::Update(id, fields)),
            Some(_) => Err(not_found("Ticket")),
            None => {
                if let Some(msg) = &self.reject_creates {
                    return Err(halo_error(400, msg));
                }
                if fields.tickettype_id != Some(TICKET_TYPE.0) {
                    return Err(ApiError::Text(400, NO_TICKET_TYPE));
                }
                Ok(TicketWrite::Create(fields))
            }
        }
    }

    /// Applies a validated write; returns the ticket id and whether it is new.
    fn apply_ticket_write(&mut self, write: TicketWrite) -> (u64, bool) {
        match write {
            TicketWrite::Create(mut fields) => {
                // Like HaloITSM, a create ignores `status_id`: new tickets start as "New".
                fields.status_id = None;
                let mut ticket = self.blank_ticket();
                fields.apply_to(&mut ticket);
                (self.insert_new(ticket), true)
            }
            TicketWrite::Update(id, mut fields) => {
                let status = fields.status_id.take();
                if let Some(ticket) = self.tickets.get_mut(&id) {
                    fields.apply_to(ticket);
                }
                if let Some(status) = status {
                    self.change_status(id, status, false);
                }
                (id, false)
            }
        }
    }

    fn validate_action_write(
        &self,
        obj: &Map<String, Value>,
    ) -> Result<(u64, ActionDraft, Option<u64>), ApiError> {
        let ticket_id = opt_id(obj, "ticket_id")?
            .ok_or_else(|| halo_error(400, "A valid ticket_id must be supplied"))?;
        let outcome = match (opt_text(obj, "outcome"), opt_id(obj, "outcome_id")?) {
            (Some(name), _) if !name.trim().is_empty() => name,
            (_, Some(id)) => OUTCOMES
                .iter()
                .find(|(oid, _, _)| *oid == id)
                .map(|(_, name, _)| (*name).to_owned())
                .ok_or_else(|| halo_error(400, &format!("Outcome {id} does not exist")))?,
            _ => return Err(ApiError::Text(400, NO_OUTCOME)),
        };
        if !self.tickets.contains_key(&ticket_id) {
            return Err(not_found("Ticket"));
        }
        let note_html = opt_text(obj, "note_html");
        let note = opt_text(obj, "note");
        let draft = ActionDraft {
            outcome,
            who: API_AGENT.to_owned(),
            agent_id: self.cfg.integration_agent_id,
            hiddenfromuser: obj
                .get("hiddenfromuser")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            note: note
                .clone()
                .or_else(|| note_html.as_deref().map(html_to_text))
                .unwrap_or_default(),
            note_html: note_html.or(note).unwrap_or_default(),
            system: false,
        };
        Ok((ticket_id, draft, opt_id(obj, "new_status")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::HttpServer;
    use std::sync::Mutex as StdMutex;

    async fn fake() -> FakeHalo {
        FakeHalo::start(FakeHaloConfig::default())
            .await
            .expect("fake Halo starts")
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client builds")
    }

    async fn token_response(halo: &FakeHalo, secret: &str) -> (u16, Value) {
        let response = client()
            .post(format!("{}/token", halo.auth_url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "sandbox-halo-client"),
                ("client_secret", secret),
                ("scope", "all"),
            ])
            .send()
            .await
            .expect("token request");
        read(response).await
    }

    async fn token(halo: &FakeHalo) -> String {
        let (status, body) = token_response(halo, "sandbox-halo-secret").await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Status and body; a non-JSON body comes back as a JSON string.
    async fn read(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn get(halo: &FakeHalo, token: &str, path: &str) -> (u16, Value) {
        let response = client()
            .get(format!("{}{path}", halo.api_url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        read(response).await
    }

    async fn post(halo: &FakeHalo, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = client()
            .post(format!("{}{path}", halo.api_url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    fn new_ticket(reference: &str) -> Value {
        json!([{
            "summary": "[CF #1] Suspicious sign-in",
            "details_html": "<p>details</p>",
            "tickettype_id": 25,
            "client_id": 1,
            "priority_id": 2,
            "thirdpartynumber": reference,
        }])
    }

    #[tokio::test]
    async fn token_endpoint_issues_bearer_tokens_and_rejects_bad_credentials() {
        let halo = fake().await;
        let (status, body) = token_response(&halo, "sandbox-halo-secret").await;
        assert_eq!(status, 200);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert!(body["refresh_token"].is_string() && body["id_token"].is_string());

        let (status, body) = token_response(&halo, "wrong").await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");

        let response = client()
            .post(format!("{}/token?tenant=acme", halo.auth_url()))
            .form(&[("client_id", "sandbox-halo-client")])
            .send()
            .await
            .expect("token request");
        let (status, body) = read(response).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "unsupported_grant_type");
        assert_eq!(halo.token_requests(), 3);

        let (status, body) = get(&halo, "not-a-token", "/Status").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
        let token = token(&halo).await;
        let (status, statuses) = get(&halo, &token, "/Status").await;
        assert_eq!(status, 200);
        assert_eq!(statuses.as_array().map(Vec::len), Some(4));
        assert_eq!(halo.api_requests(), 2);
    }

    #[tokio::test]
    async fn creating_a_ticket_answers_one_object_and_logs_action_one() {
        let halo = fake().await;
        let token = token(&halo).await;
        let (status, created) = post(&halo, &token, "/Tickets", new_ticket("cf|s|a")).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["id"], 1000);
        assert_eq!(created["isnew"], true);
        assert_eq!(created["status_id"], 1);
        assert_eq!(created["thirdpartynumber"], "cf|s|a");

        let actions = halo.actions(1000);
        assert_eq!(actions.len(), 1);
        assert_eq!(
            (
                actions[0].id,
                actions[0].outcome.as_str(),
                actions[0].agent_id
            ),
            (1, "Ticket Logged", 12)
        );

        let (_, all) = post(
            &halo,
            &token,
            "/Tickets?returnall=true",
            new_ticket("cf|s|b"),
        )
        .await;
        assert_eq!(all[0]["id"], 1001);

        let (status, updated) = post(
            &halo,
            &token,
            "/Tickets",
            json!([{"id": 1000, "status_id": 9}]),
        )
        .await;
        assert_eq!(
            (status, updated["hasbeenclosed"].as_bool()),
            (200, Some(true))
        );
        assert!(halo.ticket(1000).expect("ticket").hasbeenclosed);

        let (status, _) = post(
            &halo,
            &token,
            "/Tickets",
            json!([{"id": 77, "summary": "x"}]),
        )
        .await;
        assert_eq!(status, 404);
        let (status, body) = post(&halo, &token, "/Tickets", json!({"summary": "no type"})).await;
        assert_eq!((status, body), (400, json!(NO_TICKET_TYPE)));

        halo.set_reject_creates(Some("Category is mandatory".to_owned()));
        let (status, body) = post(&halo, &token, "/Tickets", new_ticket("cf|s|c")).await;
        assert_eq!(
            (status, body["Message"].as_str()),
            (400, Some("Category is mandatory"))
        );
        assert_eq!(halo.tickets().len(), 2);
        assert_eq!(halo.count("post", "/api/tickets"), 6);

        let (status, _) = get(&halo, &token, "/Tickets/999").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn lookups_match_the_reference_exactly() {
        let halo = fake().await;
        let token = token(&halo).await;
        let a = halo.insert_ticket("a", Some("cf|s|a"));
        halo.insert_ticket("ab", Some("cf|s|ab"));
        halo.set_custom_field(a, 42, json!("cf|s|a"));

        let (_, found) = get(
            &halo,
            &token,
            "/Tickets?thirdpartynumber=cf%7Cs%7Ca&count=1",
        )
        .await;
        assert_eq!(found["record_count"], 1);
        assert_eq!(found["tickets"][0]["id"], a);

        let (_, by_field) = get(&halo, &token, "/Tickets?searchcustomfield_42=cf%7Cs%7Ca").await;
        assert_eq!(by_field["tickets"][0]["id"], a);
        assert_eq!(by_field["tickets"][0]["customfields"][0]["name"], "CF42");

        let (_, none) = get(
            &halo,
            &token,
            "/tickets?thirdpartynumber=cf%7Cs%7Cz&count=1",
        )
        .await;
        assert_eq!(none["record_count"], 0);

        halo.set_list_shape(ListShape::Bare);
        let (_, bare) = get(&halo, &token, "/Tickets?thirdpartynumber=cf%7Cs%7Cab").await;
        assert_eq!(bare.as_array().map(Vec::len), Some(1));
    }

    #[tokio::test]
    async fn ignoring_the_lookup_filter_returns_other_tickets_newest_first() {
        let halo = fake().await;
        let token = token(&halo).await;
        halo.insert_ticket("old", Some("cf|s|old"));
        let newest = halo.insert_ticket("new", Some("cf|s|new"));
        halo.set_ignore_lookup_filter(true);
        let (_, found) = get(
            &halo,
            &token,
            "/Tickets?thirdpartynumber=cf%7Cs%7Cmissing&count=1",
        )
        .await;
        assert_eq!(found["tickets"].as_array().map(Vec::len), Some(1));
        assert_eq!(found["tickets"][0]["id"], newest);
    }

    #[tokio::test]
    async fn id_style_controls_how_ticket_ids_are_written() {
        let halo = fake().await;
        let token = token(&halo).await;
        let id = halo.insert_ticket("t", None);

        halo.set_id_style(IdStyle::Float);
        let (_, ticket) = get(&halo, &token, &format!("/Tickets/{id}")).await;
        assert!(ticket["id"].is_f64());
        assert_eq!(ticket["id"].as_f64(), Some(1000.0));

        halo.set_id_style(IdStyle::Str);
        let (_, ticket) = get(&halo, &token, &format!("/Tickets/{id}")).await;
        assert_eq!(ticket["id"], "1000");
        let (_, actions) = get(&halo, &token, &format!("/Actions?ticket_id={id}")).await;
        assert_eq!(actions["ticket_id"], "1000");
        assert_eq!(actions["actions"][0]["ticket_id"], "1000");
        assert_eq!(actions["actions"][0]["id"], 1);
    }

    #[tokio::test]
    async fn queued_faults_answer_once_then_service_resumes() {
        let halo = fake().await;
        let token = token(&halo).await;
        halo.push_fault(
            Fault::on("GET", "/api/tickets", 429, "Rate Limit Reached").with_retry_after("7"),
        );
        let response = client()
            .get(format!("{}/Tickets", halo.api_url()))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.text().await.expect("body"), "Rate Limit Reached");

        let (status, _) = get(&halo, &token, "/Tickets").await;
        assert_eq!(status, 200);
        let statuses: Vec<u16> = halo.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 429, 200]);
    }

    /// `GET /api/Status`: status, `Retry-After` header, body text.
    async fn status_call(halo: &FakeHalo, token: &str) -> (u16, Option<String>, String) {
        let response = client()
            .get(format!("{}/Status", halo.api_url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("ASCII").to_owned());
        (status, retry_after, response.text().await.expect("body"))
    }

    #[tokio::test]
    async fn rate_limit_allows_calls_per_rolling_window_then_answers_429() {
        const LIMITED: &str = "Rate Limit Reached - 3 Requests per rolling 300 millisecond window";
        let halo = fake().await;
        let token = token(&halo).await;
        let limit = RateLimit {
            calls: 3,
            window: Duration::from_millis(300),
            retry_after: true,
        };
        halo.set_rate_limit(Some(limit));
        for _ in 0..3 {
            assert_eq!(status_call(&halo, &token).await.0, 200);
        }
        let (status, retry_after, body) = status_call(&halo, &token).await;
        assert_eq!((status, body.as_str()), (429, LIMITED));
        let secs: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
        assert!(secs >= 1);
        assert_eq!(halo.rate_limited_count(), 1);
        assert_eq!(halo.requests().last().map(|r| r.status), Some(429));
        // The token endpoint counts too, and `/_sandbox` does not.
        assert_eq!(token_response(&halo, "sandbox-halo-secret").await.0, 429);
        let control = client()
            .get(format!("{}/_sandbox/requests", halo.base_url()))
            .send()
            .await
            .expect("control");
        assert_eq!(control.status(), 200);

        // Once the window has rolled past, the next `calls` requests pass again.
        tokio::time::sleep(Duration::from_millis(350)).await;
        for _ in 0..3 {
            assert_eq!(status_call(&halo, &token).await.0, 200);
        }
        assert_eq!(status_call(&halo, &token).await.0, 429);
        assert_eq!(halo.rate_limited_count(), 3);

        halo.set_rate_limit(Some(RateLimit {
            retry_after: false,
            ..limit
        }));
        for _ in 0..3 {
            assert_eq!(status_call(&halo, &token).await.0, 200);
        }
        let (status, retry_after, body) = status_call(&halo, &token).await;
        assert_eq!((status, retry_after, body.as_str()), (429, None, LIMITED));
        assert_eq!(halo.rate_limited_count(), 4);

        halo.set_rate_limit(None);
        for _ in 0..5 {
            assert_eq!(status_call(&halo, &token).await.0, 200);
        }
        let statuses: Vec<u16> = halo.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 4);
        assert_eq!(halo.rate_limited_count(), 4);
    }

    #[tokio::test]
    async fn a_client_pacing_itself_to_the_limit_never_sees_429() {
        let halo = fake().await;
        let token = token(&halo).await;
        halo.set_rate_limit(Some(RateLimit {
            calls: 3,
            window: Duration::from_millis(300),
            retry_after: true,
        }));
        // One send every 105 ms: never more than 3 sends within any 300 ms, by send time.
        let mut pace = tokio::time::interval(Duration::from_millis(105));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for _ in 0..10 {
            pace.tick().await;
            assert_eq!(status_call(&halo, &token).await.0, 200);
        }
        assert_eq!(halo.rate_limited_count(), 0);
    }

    #[tokio::test]
    async fn a_reset_fault_breaks_the_connection_then_service_resumes() {
        let halo = fake().await;
        let token = token(&halo).await;
        halo.push_fault(Fault::reset_on("GET", "/api/status"));
        let outcome = match client()
            .get(format!("{}/Status", halo.api_url()))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(response) => response.bytes().await.map(drop),
            Err(err) => Err(err),
        };
        let err = outcome.expect_err("a reset is a transport error");
        assert!(err.status().is_none(), "no HTTP status: {err:?}");

        assert_eq!(status_call(&halo, &token).await.0, 200);
        let statuses: Vec<u16> = halo.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 0, 200]);
    }

    #[tokio::test]
    async fn delay_and_outage_apply_to_every_call() {
        let halo = fake().await;
        let token = token(&halo).await;
        halo.set_delay(Duration::from_millis(300));
        let started = Instant::now();
        let (status, _) = get(&halo, &token, "/Status").await;
        assert_eq!(status, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        halo.set_delay(Duration::ZERO);

        halo.set_down(true);
        let (status, body) = get(&halo, &token, "/Status").await;
        assert_eq!(
            (status, body),
            (503, json!({"error": "service unavailable"}))
        );
        let (status, _) = token_response(&halo, "sandbox-halo-secret").await;
        assert_eq!(status, 503);
        halo.set_down(false);
        let (status, _) = get(&halo, &token, "/Status").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn revoked_tokens_are_refused() {
        let halo = fake().await;
        let token = token(&halo).await;
        halo.revoke_tokens();
        let (status, _) = get(&halo, &token, "/Tickets").await;
        assert_eq!(status, 401);
        let fresh = super::tests::token(&halo).await;
        let (status, _) = get(&halo, &fresh, "/Tickets").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn action_list_honours_includehtmlnote_and_excludesys() {
        let halo = fake().await;
        let token = token(&halo).await;
        let id = halo.insert_ticket("t", Some("cf|s|a"));
        let note = halo.add_agent_note(
            id,
            "Jane Tech",
            3,
            "<p>Reset <b>password</b> &amp; sessions</p>",
            false,
        );
        assert_eq!(note, 2);
        assert_eq!(halo.actions(id)[1].note, "Reset password & sessions");
        halo.close(id);
        assert!(halo.ticket(id).expect("ticket").hasbeenclosed);

        let (_, plain) = get(&halo, &token, &format!("/Actions?ticket_id={id}")).await;
        assert_eq!(plain["record_count"], 3);
        assert!(plain["actions"][1].get("note_html").is_none());
        assert_eq!(plain["actions"][2]["outcome"], STATUS_CHANGE);

        let query = format!("/Actions?ticket_id={id}&excludesys=true&includehtmlnote=true");
        let (_, rich) = get(&halo, &token, &query).await;
        assert_eq!(rich["record_count"], 2);
        assert_eq!(rich["actions"][1]["who_agentid"], 3);
        assert_eq!(
            rich["actions"][1]["note_html"],
            "<p>Reset <b>password</b> &amp; sessions</p>"
        );

        let (status, _) = get(&halo, &token, "/Actions?ticket_id=4242").await;
        assert_eq!(status, 404);
        halo.reopen(id);
        assert_eq!(halo.ticket(id).expect("ticket").status_id, 2);
    }

    #[tokio::test]
    async fn posting_actions_validates_the_outcome_and_applies_new_status() {
        let halo = fake().await;
        let token = token(&halo).await;
        let id = halo.insert_ticket("t", None);
        let (status, body) = post(
            &halo,
            &token,
            "/Actions",
            json!([{"ticket_id": id, "note": "x"}]),
        )
        .await;
        assert_eq!((status, body), (400, json!(NO_OUTCOME)));
        let (status, _) = post(
            &halo,
            &token,
            "/Actions",
            json!([{"ticket_id": 5, "outcome": "Note"}]),
        )
        .await;
        assert_eq!(status, 404);

        let note = json!([{
            "ticket_id": id, "outcome_id": 7, "hiddenfromuser": true,
            "note_html": "<p>private</p>", "new_status": 9,
        }]);
        let (status, action) = post(&halo, &token, "/Actions", note).await;
        assert_eq!(status, 200, "{action}");
        assert_eq!(action["id"], 2);
        assert_eq!(action["outcome"], "Private Note");
        assert_eq!(action["agent_id"], 12);
        assert_eq!(halo.actions(id)[1].note, "private");
        assert!(halo.ticket(id).expect("ticket").hasbeenclosed);
    }

    #[test]
    fn signature_matches_the_published_halo_vector() {
        let body = r#"{"id":"8e25bc7b-e07e-4102-9398-5d6647e1e79d","webhook_id":"53232637-7724-4a19-b126-3c7267a292aa","notification_id":41,"escmsg_id":"a726ee11-acb8-f111-8260-02725cb0e102","event":"ticket status changed","message":"The status has been changed for Ticket ID: 0004242.","object_id":4242,"agent_id":3,"timestamp":"2026-09-25T06:41:08.7895915Z","ticket":{"id":4242,"summary":"[CF #1234] Suspicious sign-in activity","status_id":9,"tickettype_id":25,"client_id":1,"team_id":5,"agent_id":3,"thirdpartynumber":"cf|sentinel|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21","customfields":[],"hasbeenclosed":true}}"#;
        assert_eq!(
            sign("halo_signing_secret_example", body.as_bytes()),
            "sha256= 1/EMJArSNjAUxn+VeneQQ4pRaOJXclmVVk6tbEMzg8E="
        );
    }

    /// Headers and body of every request a throwaway receiver got.
    type Captured = Arc<StdMutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

    async fn receiver() -> (String, Captured, ServerHandle) {
        let captured: Captured = Arc::default();
        let sink = captured.clone();
        let server = HttpServer::new(move || {
            let sink = sink.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                common::lock(&sink).push((headers, body.to_vec()));
                async { HttpResponse::Ok().json(json!({"status": "processed"})) }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("receiver binds");
        let port = common::bound_port(&server.addrs()).expect("port");
        let handle = common::spawn(server.run());
        (
            format!("http://127.0.0.1:{port}/api/HaloToCf"),
            captured,
            handle,
        )
    }

    #[tokio::test]
    async fn webhooks_carry_the_envelope_and_a_verifiable_signature() {
        let halo = fake().await;
        let id = halo.insert_ticket("t", Some("cf|s|a"));
        halo.close(id);
        let (url, captured, handle) = receiver().await;
        let auth = WebhookAuth::Hmac {
            header: "x-signature".to_owned(),
            secret: "s3cret".to_owned(),
        };
        let first = halo
            .send_webhook(&url, id, "ticket status changed", &auth)
            .await
            .expect("delivered");
        assert_eq!(first.status, 200);
        assert_eq!(first.body["status"], "processed");

        let resent = halo
            .resend_webhook(&url, &first, &auth)
            .await
            .expect("resent");
        assert_eq!(
            (resent.raw_body.as_slice(), &resent.delivery_id),
            (first.raw_body.as_slice(), &first.delivery_id)
        );

        let deliveries = common::lock(&captured).clone();
        assert_eq!(deliveries.len(), 2);
        let (headers, body) = &deliveries[0];
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let signature = header("x-signature").expect("signed");
        let b64 = signature
            .strip_prefix("sha256= ")
            .expect("Halo's prefix, with the space");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(body);
        mac.verify_slice(&BASE64.decode(b64).expect("base64"))
            .expect("signature verifies");
        assert_eq!(header("content-type").as_deref(), Some("application/json"));

        let envelope: Value = serde_json::from_slice(body).expect("JSON envelope");
        assert_eq!(envelope["id"], first.delivery_id.as_str());
        assert_eq!(envelope["object_id"], id);
        assert_eq!(envelope["ticket"]["thirdpartynumber"], "cf|s|a");
        assert_eq!(envelope["ticket"]["hasbeenclosed"], true);
        assert_eq!(
            envelope["message"],
            "The status has been changed for Ticket ID: 0001000."
        );
        assert_eq!(deliveries[1].1, *body);

        let secret = WebhookAuth::Header {
            name: "X-Halo-Secret".to_owned(),
            value: "abc".to_owned(),
        };
        halo.send_webhook(&url, id, "ticket updated", &secret)
            .await
            .expect("delivered");
        let last = common::lock(&captured)
            .last()
            .cloned()
            .expect("third delivery");
        assert!(
            last.0
                .contains(&("x-halo-secret".to_owned(), "abc".to_owned()))
        );
        assert!(
            halo.send_webhook(&url, 9999, "x", &WebhookAuth::None)
                .await
                .is_err()
        );
        handle.stop(false).await;
        halo.stop().await;
    }

    #[tokio::test]
    async fn control_endpoints_drive_the_fake_without_auth() {
        let halo = fake().await;
        let id = halo.insert_ticket("t", None);
        let url = format!("{}/_sandbox/tickets/{id}/notes", halo.base_url());
        let response = client()
            .post(url)
            .json(&json!({"note": "<p>hi</p>", "who": "Jane Tech", "agent_id": 3, "hidden": false}))
            .send()
            .await
            .expect("note");
        let (status, body) = read(response).await;
        assert_eq!((status, body["actionId"].as_u64()), (200, Some(2)));
        let close = format!("{}/_sandbox/tickets/{id}/close", halo.base_url());
        let (status, ticket) = read(client().post(close).send().await.expect("close")).await;
        assert_eq!(
            (status, ticket["hasbeenclosed"].as_bool()),
            (200, Some(true))
        );
        let missing = format!("{}/_sandbox/tickets/5/reopen", halo.base_url());
        assert_eq!(
            client()
                .post(missing)
                .send()
                .await
                .expect("reopen")
                .status(),
            404
        );
        assert!(halo.requests().is_empty(), "control calls are not logged");
    }
}
