//! A stateful fake HaloPSA: OAuth token endpoint, tickets, actions, lookup tables, failure
//! knobs, and a webhook emitter, modelled on `reference/halo.md` §2–§9.
//!
//! [`FakeHalo`] is the handle tests and the CLI hold; [`HaloService`] is what its server serves.
//! Each concern has its own file: `routes` (which handler a request reaches), `auth`, `tickets`,
//! `actions`, `lookup`, `control` (`/_sandbox`), `webhooks` (the emitter), `subscriptions`
//! (`/api/Webhook`), `clock` (Halo's timestamps), over the in-memory `state`.

mod actions;
mod auth;
mod clock;
mod control;
mod error;
mod json;
mod lookup;
mod model;
mod request;
mod routes;
mod state;
mod subscriptions;
mod surface;
mod tickets;
mod webhooks;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use self::json::html_to_text;
use self::lookup::TICKET_TYPE;
use self::state::{ActionDraft, State, expect_ticket, set_field};
use super::common::{self, FakeServer};
pub use super::common::{Fault, RateLimit, RecordedRequest};
pub use model::{
    ArrayAnswers, BetweenPages, FakeHaloConfig, HaloAction, HaloTicket, IdStyle, ListShape,
    WriteFate, WriteKind,
};
pub use webhooks::{WebhookAuth, WebhookResult, sign};

/// A running fake HaloPSA; clones share the same server and state.
pub type FakeHalo = FakeServer<HaloService>;

/// What the fake Halo's server serves: its in-memory state and the webhook emitter's client.
pub struct HaloService {
    state: Mutex<State>,
    http: reqwest::Client,
    webhook_id: String,
}

impl HaloService {
    /// The state, with any create Halo completes late applied once its time has come.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = common::lock(&self.state);
        state.apply_late_writes();
        state
    }
}

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
        let service = HaloService {
            state: Mutex::new(State::new(cfg)),
            http,
            webhook_id: uuid::Uuid::new_v4().to_string(),
        };
        FakeServer::run(port, service)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.origin()
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

    /// Calls to the token endpoint, whatever they were answered.
    pub fn token_requests(&self) -> usize {
        self.count("POST", "/auth/token")
    }

    /// Calls to `/api/...`.
    pub fn api_requests(&self) -> usize {
        self.gate().count_path("/api")
    }

    /// Seeds a ticket directly (not logged) with `reference` in `third_party_id_string`; returns
    /// its id. Like an API create, it gets action 1.
    pub fn insert_ticket(&self, summary: &str, reference: Option<&str>) -> u64 {
        let mut state = self.state();
        let mut ticket = state.blank_ticket();
        ticket.summary = summary.to_owned();
        ticket.tickettype_id = Some(TICKET_TYPE.0);
        ticket.client_id = Some(1);
        ticket.third_party_id_string = reference.map(str::to_owned);
        state.insert_new(ticket)
    }

    /// Sets (or replaces) a custom field value. A seeding knob: the last update stays put.
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
    /// Like any status change, it bumps the ticket's last update.
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
        ticket.last_update = SystemTime::now();
    }

    /// Moves a ticket's last update (`lastactiondate`, and what `lastupdatefromdate` filters on),
    /// e.g. into the past so a sweep sees it as changed long ago.
    ///
    /// # Panics
    /// If the ticket does not exist.
    pub fn set_last_update(&self, ticket_id: u64, at: SystemTime) {
        self.state().ticket_mut(ticket_id).last_update = at;
    }

    /// When the ticket last changed, or `None` for an unknown ticket.
    pub fn last_update(&self, ticket_id: u64) -> Option<SystemTime> {
        self.state().tickets.get(&ticket_id).map(|t| t.last_update)
    }

    /// Invalidates every issued token: the next `/api` call gets 401.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Sets (`Some`) or lifts (`None`) a rolling-window rate limit on every `/auth` and `/api`
    /// request (`/_sandbox` is exempt); the window starts empty. See [`RateLimit`] for how
    /// requests are counted and why a client pacing itself to the limit never sees a `429`.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.gate().set_rate_limit(limit);
    }

    /// How many requests the rate limiter answered `429` (queued `429` faults not included).
    /// Counts for the life of the fake: neither `clear_requests` nor `set_rate_limit` resets it.
    pub fn rate_limited_count(&self) -> usize {
        self.gate().rate_limited_count()
    }

    /// How array POSTs with `returnall=true` are answered.
    pub fn set_array_answers(&self, answers: ArrayAnswers) {
        self.state().array_answers = answers;
    }

    /// Refuses (400) any ticket write whose summary contains `marker`: one bad object makes Halo
    /// refuse the whole array it came in.
    pub fn refuse_summaries_containing(&self, marker: Option<&str>) {
        self.state().refused_summary = marker.map(str::to_owned);
    }

    /// Calls to `/auth` and `/api` by kind, paths lower-cased as Halo matches them
    /// (`GET /api/tickets`, `GET /api/tickets/{id}`, `POST /api/actions`, `POST /auth/token`, …).
    pub fn calls_by_kind(&self) -> std::collections::BTreeMap<String, usize> {
        let mut kinds = std::collections::BTreeMap::new();
        for r in self.requests() {
            let path = r.path.to_ascii_lowercase();
            let Some(rest) = path.strip_prefix("/api/").or(path.strip_prefix("/auth/")) else {
                continue;
            };
            let resource = match rest.split_once('/') {
                Some((name, _)) => format!("{name}/{{id}}"),
                None => rest.to_owned(),
            };
            let prefix = if path.starts_with("/auth/") {
                "/auth/"
            } else {
                "/api/"
            };
            *kinds
                .entry(format!("{} {prefix}{resource}", r.method))
                .or_insert(0) += 1;
        }
        kinds
    }

    /// Makes an automation add this public note to every ticket as it is created (in the same
    /// moment, as Halo's automations do), or no note (`None`).
    pub fn set_creation_note(&self, note: Option<&str>) {
        self.state().creation_note = note.map(str::to_owned);
    }

    /// Lists tickets most recently updated first when a listing names no `order` (the order of
    /// Halo's queue views), so a ticket updated while a client walks the pages moves between them.
    pub fn set_default_order_by_update(&self, on: bool) {
        self.state().default_order_by_update = on;
    }

    /// Makes `event` happen right after page `page_no` of a paged ticket listing is served.
    pub fn after_page(&self, page_no: usize, event: BetweenPages) {
        self.state().between_pages = Some((page_no, event));
    }

    /// Loses the answer to the next write of `kind` (the connection breaks, as a gateway timeout
    /// or a crash would), and completes the write at once, after a delay, or never.
    pub fn lose_next_answer(&self, kind: WriteKind, fate: WriteFate) {
        self.state().next_fate.push((kind, fate));
    }

    /// Forgets the lost answers not yet used up.
    pub fn clear_fates(&self) {
        self.state().next_fate.clear();
    }

    /// Makes every ticket create fail with 400 and this message (`None` = normal service).
    pub fn set_reject_creates(&self, msg: Option<String>) {
        self.state().reject_creates = msg;
    }

    /// Models an older Halo build that does not know the `third_party_id_string=` filter: like
    /// any unknown parameter, it is ignored and the list answers as if it had not been sent.
    pub fn set_ignore_reference_filter(&self, on: bool) {
        self.state().ignore_reference_filter = on;
    }

    /// Every query parameter, body field or endpoint a client used that Halo's published API
    /// does not define (`"GET /Tickets ?thirdpartynumber"`), in order, each once.
    pub fn undocumented_names(&self) -> Vec<String> {
        self.state().undocumented.iter().cloned().collect()
    }

    /// Wrapped or bare list responses.
    pub fn set_list_shape(&self, s: ListShape) {
        self.state().list_shape = s;
    }

    /// How ticket ids are written in responses.
    pub fn set_id_style(&self, s: IdStyle) {
        self.state().id_style = s;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.service().state()
    }
}
