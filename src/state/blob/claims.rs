//! Claims on Blob Storage: a blob with an owner and an expiry, created if absent, taken over
//! (conditionally) once expired, deleted on release.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::http::{Etag, StatusCode};
use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{BlobClientDeleteOptions, BlobClientUploadOptions};
use serde::{Deserialize, Serialize};

use super::{BlobStore, CLAIM_POLL, MAX_CLAIM_HOLD, hashed, now_ms, timed};
use crate::http::{Deadline, clamp_retry_after};
use crate::state::{Claim, ClaimHolder, StateError};

#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    owner: String,
    /// Unix milliseconds after which anyone may take the claim over.
    #[serde(rename = "expiresAtMs")]
    expires_at_ms: u64,
}

/// A claim blob this request owns. While it is held, a task renews its expiry (If-Match on the
/// ETag it last wrote), so a claim outlives whatever work it protects however long that takes;
/// when the owner dies the renewals stop and the claim expires within the hold.
struct BlobClaim {
    container: Arc<BlobContainerClient>,
    name: String,
    etag: Arc<std::sync::Mutex<Etag>>,
    renewer: tokio::task::JoinHandle<()>,
    released: bool,
}

impl BlobClaim {
    fn current_etag(&self) -> Etag {
        self.etag.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl BlobClaim {
    async fn delete(container: &BlobContainerClient, name: &str, etag: Etag) {
        let options = BlobClientDeleteOptions {
            if_match: Some(etag),
            ..Default::default()
        };
        if let Err(e) = timed(container.blob_client(name).delete(Some(options))).await
            && e.http_status()
                .is_none_or(|s| s != StatusCode::NotFound && s != StatusCode::PreconditionFailed)
        {
            tracing::warn!(error = %e, "claim not released; it will expire");
        }
    }
}

#[async_trait]
impl ClaimHolder for BlobClaim {
    async fn release(mut self: Box<Self>) {
        self.released = true;
        self.renewer.abort();
        Self::delete(&self.container, &self.name, self.current_etag()).await;
    }
}

impl Drop for BlobClaim {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released {
            return;
        }
        let (container, name, etag) = (
            self.container.clone(),
            std::mem::take(&mut self.name),
            self.current_etag(),
        );
        // Not releasing is safe too: the claim expires on its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { Self::delete(&container, &name, etag).await });
        }
    }
}

impl BlobStore {
    /// One attempt at `key`: `Some(claim)` when free (or expired), `None` while held elsewhere
    /// (with when it frees), or `Err` when storage fails.
    async fn attempt(
        &self,
        name: &str,
        key: &str,
        owner: &str,
        hold: Duration,
    ) -> Result<Result<Claim, Option<Duration>>, StateError> {
        let mine = ClaimRecord {
            owner: owner.to_string(),
            expires_at_ms: now_ms() + hold.as_millis() as u64,
        };
        // Create-if-absent first: a free claim (the usual case) costs one write and no read.
        let taken = match self.write(name, &mine, None).await? {
            Some(etag) => Some(etag),
            None => match self.read::<ClaimRecord>(name).await? {
                // Freed between the two calls.
                None => self.write(name, &mine, None).await?,
                // The owner died or overran: take it over, conditionally on what we saw.
                Some(held) if held.value.expires_at_ms <= now_ms() => {
                    tracing::warn!(claim = key, "taking over an expired claim");
                    self.write(name, &mine, Some(&held.etag)).await?
                }
                Some(held) => {
                    let left = held.value.expires_at_ms.saturating_sub(now_ms());
                    return Ok(Err(Some(Duration::from_millis(left))));
                }
            },
        };
        Ok(match taken {
            Some(etag) => {
                let etag = Arc::new(std::sync::Mutex::new(etag));
                let renewer = tokio::spawn(renew(
                    self.container.clone(),
                    name.to_string(),
                    owner.to_string(),
                    hold,
                    etag.clone(),
                ));
                Ok(Claim::new(BlobClaim {
                    container: self.container.clone(),
                    name: name.to_string(),
                    etag,
                    renewer,
                    released: false,
                }))
            }
            // Lost the race to another instance.
            None => Err(None),
        })
    }

    /// Waits for `key` until the deadline (the webhooks' claims).
    pub(super) async fn claim_waiting(
        &self,
        key: &str,
        deadline: Deadline,
        hold_for: Duration,
    ) -> Result<Claim, StateError> {
        let name = hashed("claims", key);
        // The holder's request ends at its deadline (plus the route's backstop); the claim
        // outlives it a little so a slow release never lets two owners overlap.
        let hold = (hold_for + Duration::from_secs(2)).min(MAX_CLAIM_HOLD);
        let owner = uuid::Uuid::new_v4().to_string();
        loop {
            match self.attempt(&name, key, &owner, hold).await? {
                Ok(claim) => return Ok(claim),
                // Lost a race: look again at once.
                Err(None) => {}
                Err(Some(left)) => {
                    if deadline.remaining() <= CLAIM_POLL {
                        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                        return Err(StateError::Busy {
                            key: key.to_string(),
                            retry_after: clamp_retry_after(secs),
                        });
                    }
                    tokio::time::sleep(CLAIM_POLL).await;
                }
            }
        }
    }

    /// Takes `key` now or not at all. `hold_for` is not capped: a reconcile run holds its claim
    /// for its whole deadline, and a dead run's claim frees when that passes.
    pub(super) async fn claim_now(
        &self,
        key: &str,
        hold_for: Duration,
    ) -> Result<Option<Claim>, StateError> {
        let name = hashed("claims", key);
        let owner = uuid::Uuid::new_v4().to_string();
        for _ in 0..3 {
            match self.attempt(&name, key, &owner, hold_for).await? {
                Ok(claim) => return Ok(Some(claim)),
                Err(Some(_)) => return Ok(None),
                Err(None) => {}
            }
        }
        Ok(None)
    }
}

/// Pushes the claim's expiry out by `hold` every third of it, until aborted or until the
/// claim is no longer ours (then the work it protected is someone else's).
async fn renew(
    container: Arc<BlobContainerClient>,
    name: String,
    owner: String,
    hold: Duration,
    etag: Arc<std::sync::Mutex<Etag>>,
) {
    let every = (hold / 3).max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(every).await;
        let mine = ClaimRecord {
            owner: owner.clone(),
            expires_at_ms: now_ms() + hold.as_millis() as u64,
        };
        let seen = etag.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Ok(body) = serde_json::to_vec(&mine) else {
            return;
        };
        let body = azure_core::Bytes::from(body);
        let options = BlobClientUploadOptions {
            if_match: Some(seen),
            ..Default::default()
        };
        let written = timed(
            container
                .blob_client(&name)
                .upload(body.into(), Some(options)),
        )
        .await;
        match written {
            Ok(r) => {
                if let Some(next) = r.etag {
                    *etag.lock().unwrap_or_else(|p| p.into_inner()) = next;
                }
            }
            Err(e) if e.http_status() == Some(StatusCode::PreconditionFailed) => {
                tracing::warn!(claim = %name, "claim lost while held: not renewed");
                return;
            }
            // Storage hiccup: try again next time, while the hold still covers us.
            Err(e) => tracing::warn!(claim = %name, error = %e, "claim not renewed this time"),
        }
    }
}
