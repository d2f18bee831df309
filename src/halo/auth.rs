//! Halo OAuth client-credentials token, cached and refreshed by one task at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::http::budget::Budget;
use crate::http::{self, Deadline, System, UpstreamError};
use crate::secrets::Secrets;
use crate::settings::HaloConnection;

/// Refresh this long before `expires_in` runs out.
const REFRESH_EARLY: Duration = Duration::from_secs(60);
/// Longest a token is trusted, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;
/// `expires_in` when Halo leaves it out.
const DEFAULT_EXPIRES_IN: u64 = 3600;

#[derive(Clone)]
struct CachedToken {
    value: Arc<str>,
    refresh_at: Instant,
    expires_at: Instant,
}

/// The process's Halo token.
pub struct TokenCache {
    conn: HaloConnection,
    http: reqwest::Client,
    budget: Arc<Budget>,
    secrets: Arc<Secrets>,
    token: Mutex<Option<CachedToken>>,
    fetches: AtomicU64,
    config_error_logged: AtomicBool,
}

impl TokenCache {
    /// A cache that fetches nothing until first asked.
    pub fn new(
        conn: HaloConnection,
        http: reqwest::Client,
        budget: Arc<Budget>,
        secrets: Arc<Secrets>,
    ) -> Self {
        Self {
            conn,
            http,
            budget,
            secrets,
            token: Mutex::new(None),
            fetches: AtomicU64::new(0),
            config_error_logged: AtomicBool::new(false),
        }
    }

    /// How many token requests this process has made.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token valid for at least a minute, fetching one if needed.
    ///
    /// Callers queue on the lock, so a burst of requests with no token makes one fetch.
    pub async fn token(&self, deadline: Deadline) -> Result<Arc<str>, UpstreamError> {
        let mut slot = tokio::time::timeout_at(deadline.instant(), self.token.lock())
            .await
            .map_err(|_| {
                UpstreamError::unavailable(System::Halo, "deadline passed waiting for a token")
            })?;
        let now = Instant::now();
        if let Some(t) = slot.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(t.value.clone());
        }
        match self.fetch(deadline).await {
            Ok(fresh) => {
                let value = fresh.value.clone();
                *slot = Some(fresh);
                Ok(value)
            }
            // Refresh early, fail late: a token that has not expired yet still works.
            Err(e) => match slot.as_ref().filter(|t| now < t.expires_at) {
                Some(still_valid) => {
                    tracing::warn!(error = %e, "halo token refresh failed; using the current token until it expires");
                    Ok(still_valid.value.clone())
                }
                None => Err(e),
            },
        }
    }

    /// Forgets `used` after Halo answered 401 to it; a newer token is kept.
    pub async fn invalidate(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| &*t.value == used) {
            *slot = None;
        }
    }

    async fn fetch(&self, deadline: Deadline) -> Result<CachedToken, UpstreamError> {
        // Read at each fetch, so a secret rotated in Key Vault is used without a restart.
        let Some(client_secret) = self.secrets.value("HALO_CLIENT_SECRET") else {
            return Err(UpstreamError::Misconfigured {
                system: System::Halo,
                detail: "HALO_CLIENT_SECRET is not available".into(),
            });
        };
        // Halo counts token requests against the same budget as API calls.
        self.budget.acquire(None, deadline).await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/token", self.conn.auth_url);
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.conn.client_id),
            ("client_secret", client_secret.expose_secret()),
            ("scope", &self.conn.scope),
        ];
        let mut request = self.http.post(url);
        if let Some(tenant) = &self.conn.tenant {
            form.push(("tenant", tenant));
            request = request.query(&[("tenant", tenant)]);
        }
        let started = Instant::now();
        let response = match http::send(System::Halo, request.form(&form), deadline).await {
            Ok(r) => r,
            Err(
                UpstreamError::Unauthorized { detail, .. } | UpstreamError::Rejected { detail, .. },
            ) => {
                return Err(self.configuration_error(detail));
            }
            Err(UpstreamError::NotFound { .. }) => {
                return Err(self
                    .configuration_error("token endpoint not found (check HALO_AUTH_URL)".into()));
            }
            Err(e) => return Err(e),
        };
        let body: Value = response
            .json()
            .await
            .map_err(|_| UpstreamError::unavailable(System::Halo, "token answer is not JSON"))?;
        let value = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                UpstreamError::unavailable(System::Halo, "token answer has no access_token")
            })?;
        let expires_in = body
            .get("expires_in")
            .and_then(crate::halo::model::flex_id)
            .unwrap_or(DEFAULT_EXPIRES_IN);
        // Capped, so an absurd expires_in can neither overflow the clock nor pin a token for ever.
        let lifetime = Duration::from_secs(expires_in.clamp(1, MAX_TOKEN_LIFETIME_SECS));
        // A very short-lived token is refreshed half-way instead of never being "fresh".
        let early = REFRESH_EARLY.min(lifetime / 2);
        self.config_error_logged.store(false, Ordering::Relaxed);
        tracing::info!(
            expires_in,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "halo token fetched"
        );
        Ok(CachedToken {
            value: Arc::from(value),
            refresh_at: started + lifetime - early,
            expires_at: started + lifetime,
        })
    }

    /// A token request Halo refuses is a configuration problem: logged once, answered 503.
    fn configuration_error(&self, detail: String) -> UpstreamError {
        // Perhaps rotated in Key Vault since we last read it.
        self.secrets.authentication_failed();
        if !self.config_error_logged.swap(true, Ordering::Relaxed) {
            tracing::error!(%detail, "halo refused the token request: check HALO_AUTH_URL, HALO_CLIENT_ID, HALO_CLIENT_SECRET, HALO_TENANT and HALO_SCOPE");
        }
        UpstreamError::Misconfigured {
            system: System::Halo,
            detail: format!("token request refused: {detail}"),
        }
    }
}
