//! The Halo API calls the bridge makes (CONTRACT §3.3, §3.5, §4.3).

use std::sync::Arc;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::halo::auth::TokenCache;
use crate::halo::model::{Action, Ticket, first_record, flex_id, list_items};
use crate::http::budget::{Budget, Permit};
use crate::http::retry::{Idempotency, RetryPolicy};
use crate::http::{self, Deadline, System, UpstreamError};
use crate::secrets::Secrets;
use crate::settings::{HaloConnection, NoteOutcome};

/// One client per process: one token cache, one call budget and one connection pool for both
/// functions.
pub struct HaloClient {
    api: String,
    http: reqwest::Client,
    tokens: TokenCache,
    budget: Arc<Budget>,
    retry: RetryPolicy,
    external_ref_field_id: Option<u64>,
}

impl HaloClient {
    /// A client for this connection; makes no call until used.
    pub fn new(
        conn: HaloConnection,
        http: reqwest::Client,
        budget: Arc<Budget>,
        secrets: Arc<Secrets>,
    ) -> Self {
        Self {
            api: conn.api_base_url.clone(),
            external_ref_field_id: conn.external_ref_field_id,
            tokens: TokenCache::new(conn, http.clone(), budget.clone(), secrets),
            budget,
            http,
            retry: RetryPolicy::default(),
        }
    }

    /// Token requests made so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetch_count()
    }

    /// Reserves `n` calls of the budget ahead (a new incident's lookup and create).
    pub async fn reserve(&self, n: u32, deadline: Deadline) -> Result<Permit, UpstreamError> {
        self.budget.reserve(n, deadline).await
    }

    /// Sends an authorised call with the retry policy; every attempt spends budget, and a 401
    /// refreshes the token once.
    async fn call(
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
                self.budget.acquire(permit, deadline).await?;
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

    /// Looks the reference up and accepts a hit only if its reference matches exactly.
    pub async fn find_ticket(
        &self,
        reference: &str,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Option<u64>, UpstreamError> {
        let filter = match self.external_ref_field_id {
            Some(field) => format!("searchcustomfield_{field}"),
            None => "thirdpartynumber".to_string(),
        };
        let body = self
            .call(
                Method::GET,
                "Tickets",
                |r| r.query(&[(filter.as_str(), reference), ("count", "1")]),
                Idempotency::Safe,
                permit,
                deadline,
            )
            .await?;
        // Treating an unreadable answer as "no ticket" would create a duplicate.
        if !(body.is_array() || body.is_object()) {
            return Err(UpstreamError::unavailable(
                System::Halo,
                "lookup answer is not a ticket list",
            ));
        }
        let hit = list_items(&body, "tickets")
            .iter()
            .filter_map(|t| Ticket::from_json(t.as_object()?))
            .find(|t| t.reference(self.external_ref_field_id) == Some(reference));
        Ok(hit.map(|t| t.id))
    }

    /// Creates one ticket and returns its id.
    pub async fn create_ticket(
        &self,
        ticket: &Value,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<u64, UpstreamError> {
        let body = json!([ticket]);
        let answer = self
            .call(
                Method::POST,
                "Tickets",
                |r| r.json(&body),
                Idempotency::Unsafe,
                permit,
                deadline,
            )
            .await?;
        first_record(&answer)
            .and_then(|o| o.get("id"))
            .and_then(flex_id)
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                UpstreamError::unavailable_after_send(
                    System::Halo,
                    "create answer has no ticket id",
                )
            })
    }

    /// Adds a private note to a ticket.
    pub async fn add_private_note(
        &self,
        ticket_id: u64,
        note_html: &str,
        outcome: &NoteOutcome,
        deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        let mut action =
            json!({ "ticket_id": ticket_id, "hiddenfromuser": true, "note_html": note_html });
        match outcome {
            NoteOutcome::Id(id) => action["outcome_id"] = json!(id),
            NoteOutcome::Name(name) => action["outcome"] = json!(name),
        }
        let body = json!([action]);
        self.call(
            Method::POST,
            "Actions",
            |r| r.json(&body),
            Idempotency::Unsafe,
            None,
            deadline,
        )
        .await
        .map(drop)
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
