//! The Halo API calls the bridge makes (CONTRACT §3.3, §3.5, §4.3).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::halo::auth::TokenCache;
use crate::halo::lookup::tickets_of;
use crate::halo::model::{Action, Ticket, flex_id, list_items};
use crate::http::budget::{Budget, Permit, Priority};
use crate::http::retry::{Idempotency, RetryPolicy};
use crate::http::{self, Deadline, System, UpstreamError};
use crate::secrets::Secrets;
use crate::settings::{HaloConnection, NoteOutcome};

/// Halo's largest page: it caps `page_size` at 100 whatever is asked.
pub const PAGE_SIZE: usize = 100;

/// One page of a ticket listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketPage {
    /// The tickets on it.
    pub tickets: Vec<Ticket>,
    /// How many tickets the whole listing has, when Halo says (a wrapped answer).
    pub record_count: Option<u64>,
}

/// A ticket Halo created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// Its id.
    pub id: u64,
    /// Its `lastactiondate` in the create answer, in [`halo_time_ticks`]: every action it had
    /// then is dated at or before it.
    pub last_action: Option<i64>,
}

/// A Halo date-time (`2026-04-22T15:20:00.1234567Z`, with or without the `Z`; always UTC) in
/// 100 ns ticks since the Unix epoch: the precision Halo writes, so two actions a moment apart
/// never compare equal.
pub fn halo_time_ticks(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_suffix('Z').unwrap_or(text);
    let format = time::format_description::parse_borrowed::<3>(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]",
    )
    .ok()?;
    let t = time::PrimitiveDateTime::parse(text, &format).ok()?;
    i64::try_from(t.assume_utc().unix_timestamp_nanos() / 100).ok()
}

/// One client per process: one token cache, one call budget and one connection pool for all
/// functions. A reconcile run uses a copy on a lane ([`HaloClient::on_lane`]).
#[derive(Clone)]
pub struct HaloClient {
    api: String,
    http: reqwest::Client,
    tokens: Arc<TokenCache>,
    budget: Arc<Budget>,
    retry: RetryPolicy,
    pub(super) external_ref_field_id: Option<u64>,
    /// `HALO_LOOKUP_MAX_PAGES`.
    pub(super) lookup_max_pages: u32,
    /// This Halo answered a `third_party_id_string=` lookup with rows that do not carry the
    /// reference: it does not know the filter, and lookups use the date-window listing.
    pub(super) filter_ignored: Arc<AtomicBool>,
    /// A second budget every call must also fit, without waiting (reconcile's share).
    lane: Option<Arc<Budget>>,
    /// Calls sent by this copy (a run's `haloCalls`).
    sent: Arc<AtomicU64>,
    /// The batching queues, shared by every copy (CONTRACT §12).
    pub(super) queues: Arc<crate::halo::batched::Queues>,
    /// `HALO_CALL_SAVINGS`.
    call_savings: bool,
    /// The last window of recently updated tickets read (shared by every copy).
    pub(super) recent: Arc<crate::halo::recent::Recent>,
}

impl HaloClient {
    /// A client for this connection; makes no call until used.
    pub fn new(
        conn: HaloConnection,
        http: reqwest::Client,
        budget: Arc<Budget>,
        secrets: Arc<Secrets>,
    ) -> Self {
        let (batch_max, call_savings) = (conn.batch_max, conn.call_savings);
        Self {
            api: conn.api_base_url.clone(),
            external_ref_field_id: conn.external_ref_field_id,
            lookup_max_pages: conn.lookup_max_pages,
            filter_ignored: Arc::new(AtomicBool::new(false)),
            tokens: Arc::new(TokenCache::new(conn, http.clone(), budget.clone(), secrets)),
            budget,
            http,
            retry: RetryPolicy::default(),
            lane: None,
            sent: Arc::new(AtomicU64::new(0)),
            queues: Arc::new(crate::halo::batched::Queues::new(batch_max)),
            call_savings,
            recent: Arc::default(),
        }
    }

    /// Whether the webhook and sweep savings are on (`HALO_CALL_SAVINGS`, default on).
    pub fn call_savings(&self) -> bool {
        self.call_savings
    }

    /// The same client on the process's budget alone.
    pub(super) fn without_lane(&self) -> HaloClient {
        HaloClient {
            lane: None,
            ..self.clone()
        }
    }

    /// A copy whose calls must also fit `lane` (never waiting for it) and that counts its own
    /// calls: what one reconcile run uses, so it never takes more than its share.
    pub fn on_lane(&self, lane: Arc<Budget>) -> HaloClient {
        HaloClient {
            lane: Some(lane),
            sent: Arc::new(AtomicU64::new(0)),
            ..self.clone()
        }
    }

    /// Calls this copy has sent (token requests not included).
    pub fn calls_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Token requests made so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetch_count()
    }

    /// Reserves `n` calls of the budget ahead (a new incident's lookup and create), waiting in
    /// line at `priority` (the incident's severity rank) when the budget is short. On a lane,
    /// the lane is checked first and counted once the budget granted the calls, so a run that
    /// could not call spends none of its share.
    pub async fn reserve(
        &self,
        n: u32,
        priority: Priority,
        deadline: Deadline,
    ) -> Result<Permit, UpstreamError> {
        if let Some(lane) = &self.lane
            && !lane.has_room(n)
        {
            lane.try_reserve_now(n)?;
        }
        let permit = self
            .budget
            .reserve_as(n, deadline, priority)
            .await
            .map_err(|e| self.on_lane_exhausted(e))?;
        if let Some(lane) = &self.lane {
            // One run at a time uses the lane, so the room seen above is still there.
            lane.try_reserve_now(n)?;
        }
        Ok(permit)
    }

    /// One call's slot: from `permit` while it lasts (both budgets were counted when it was
    /// reserved), else from the lane (at once or not at all) and the budget.
    async fn acquire(
        &self,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        if permit.is_some_and(Permit::take) {
            return Ok(());
        }
        if let Some(lane) = &self.lane {
            lane.try_reserve_now(1)?;
        }
        self.budget
            .reserve(1, deadline)
            .await
            .map(drop)
            .map_err(|e| self.on_lane_exhausted(e))
    }

    /// On a run's lane, Halo's whole budget being spent ends the run like its own share being
    /// spent: every next item would meet the same wait (CONTRACT §13).
    fn on_lane_exhausted(&self, e: UpstreamError) -> UpstreamError {
        match (&self.lane, e) {
            (Some(_), UpstreamError::Unavailable { retry_after, .. }) => UpstreamError::ShareUsed {
                retry_after: retry_after.unwrap_or(crate::http::DEFAULT_RETRY_AFTER_SECS),
            },
            (_, e) => e,
        }
    }

    /// Sends an authorised call with the retry policy; every attempt spends budget, and a 401
    /// refreshes the token once.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
        idempotency: Idempotency,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Value, UpstreamError> {
        let url = format!("{}/{}", self.api, path);
        let attempt = || async {
            let mut refreshed = false;
            loop {
                let token: Arc<str> = self.tokens.token(deadline).await?;
                self.acquire(permit, deadline).await?;
                self.sent.fetch_add(1, Ordering::Relaxed);
                let request = build(self.http.request(method.clone(), &url)).bearer_auth(&*token);
                match http::send(System::Halo, request, deadline).await {
                    Ok(response) => {
                        let bytes = response.bytes().await.map_err(|_| {
                            UpstreamError::unavailable_after_send(
                                System::Halo,
                                "answer body cut off",
                            )
                        })?;
                        return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
                    }
                    Err(UpstreamError::Unauthorized { .. }) if !refreshed => {
                        refreshed = true;
                        self.tokens.invalidate(&token).await;
                    }
                    Err(UpstreamError::Unauthorized { detail, .. }) => {
                        tracing::error!(%detail, "halo answered 401 to a fresh token: check the API application's permissions");
                        return Err(UpstreamError::Misconfigured {
                            system: System::Halo,
                            detail,
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        self.retry.run(idempotency, deadline, attempt).await
    }

    /// Fetches a token now (or reuses the cached one): `check-config`'s first Halo step.
    pub async fn fetch_token(&self, deadline: Deadline) -> Result<(), UpstreamError> {
        self.tokens.token(deadline).await.map(drop)
    }

    /// An authorised `GET {api}/{path}` with the retry policy, for reads such as the lookup
    /// tables (`TicketType`, `Priority`, `Status`, `Outcome`, `Team`, `Client`). The answer is
    /// Halo's JSON as it came (`Null` when it was not JSON).
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
        deadline: Deadline,
    ) -> Result<Value, UpstreamError> {
        self.call(
            Method::GET,
            path,
            |r| r.query(query),
            Idempotency::Safe,
            None,
            deadline,
        )
        .await
    }

    /// Adds a private note to a ticket.
    pub async fn add_private_note(
        &self,
        ticket_id: u64,
        note_html: &str,
        outcome: &NoteOutcome,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        self.add_note(ticket_id, note_html, outcome, true, deadline)
            .await
    }

    /// Changes fields of an existing ticket (`POST /Tickets` with its id): a close or a priority.
    pub async fn update_ticket(
        &self,
        ticket_id: u64,
        fields: Value,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let mut ticket = json!({ "id": ticket_id });
        if let (Some(t), Value::Object(f)) = (ticket.as_object_mut(), fields) {
            t.extend(f);
        }
        let body = json!([ticket]);
        // Setting the same status or priority twice leaves the same ticket: safe to repeat.
        self.call(
            Method::POST,
            "Tickets",
            |r| r.json(&body),
            Idempotency::Safe,
            None,
            deadline,
        )
        .await
        .map(drop)
    }

    /// One page (1-based, up to [`PAGE_SIZE`] tickets, in id order) of the tickets updated since
    /// `from` (UTC, `YYYY-MM-DDTHH:MM:SS`), closed ones too, with Halo's `record_count`: the
    /// reconcile sweep (CONTRACT §9.2 step 3, §13). In id order a ticket keeps its place while
    /// it is updated, so one that changes during the sweep is not skipped.
    pub async fn tickets_updated_since(
        &self,
        from: &str,
        page_no: u32,
        deadline: Deadline,
    ) -> Result<TicketPage, UpstreamError> {
        let page = page_no.to_string();
        let size = PAGE_SIZE.to_string();
        let query = [
            ("lastupdatefromdate", from),
            ("includeclosed", "true"),
            ("order", "id"),
            ("orderdesc", "false"),
            ("pageinate", "true"),
            ("page_size", size.as_str()),
            ("page_no", page.as_str()),
        ];
        let body = self
            .call(
                Method::GET,
                "Tickets",
                |r| r.query(&query),
                Idempotency::Safe,
                None,
                deadline,
            )
            .await?;
        Ok(TicketPage {
            tickets: tickets_of(&body)?,
            record_count: body.get("record_count").and_then(flex_id),
        })
    }

    /// Reads one ticket.
    pub async fn get_ticket(
        &self,
        ticket_id: u64,
        deadline: Deadline,
    ) -> Result<Ticket, UpstreamError> {
        let body = self
            .call(
                Method::GET,
                &format!("Tickets/{ticket_id}"),
                |r| r,
                Idempotency::Safe,
                None,
                deadline,
            )
            .await?;
        body.as_object().and_then(Ticket::from_json).ok_or_else(|| {
            UpstreamError::unavailable(System::Halo, "ticket answer is not a ticket")
        })
    }

    /// Reads a ticket's non-system actions, with their HTML notes, oldest first.
    pub async fn list_actions(
        &self,
        ticket_id: u64,
        deadline: Deadline,
    ) -> Result<Vec<Action>, UpstreamError> {
        let id = ticket_id.to_string();
        let query = [
            ("ticket_id", id.as_str()),
            ("excludesys", "true"),
            ("includehtmlnote", "true"),
        ];
        let body = self
            .call(
                Method::GET,
                "Actions",
                |r| r.query(&query),
                Idempotency::Safe,
                None,
                deadline,
            )
            .await?;
        let mut actions: Vec<Action> = list_items(&body, "actions")
            .iter()
            .filter_map(|a| Action::from_json(a.as_object()?))
            .collect();
        actions.sort_by_key(|a| a.id);
        Ok(actions)
    }
}
