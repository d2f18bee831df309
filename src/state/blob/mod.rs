//! The `blob` state store: Azure Blob Storage in the Function App's own account, shared by
//! every instance (CONTRACT §5).
//!
//! Every write is conditional: create-if-absent (`If-None-Match: *`) to claim or record,
//! replace-if-ETag (`If-Match`) to advance, so two instances never both win. A claim is a blob
//! with an expiry: a process killed mid-request leaves one behind, and it is taken over once it
//! expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use azure_core::http::{
    ClientOptions, Etag, ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode,
};
use azure_storage_blob::models::{BlobClientDeleteOptions, BlobClientUploadOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use serde_json::Value;

use super::{Claim, Link, StateError, StateStore, TicketSync};
use crate::http::Deadline;

mod claims;
mod records;

/// Longest one storage call may take (the SDK's own transport has no total timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiter looks at a claim held elsewhere.
const CLAIM_POLL: Duration = Duration::from_millis(100);
/// Longest a claim lives without its owner: a dead owner's claim is taken over after this.
pub const MAX_CLAIM_HOLD: Duration = Duration::from_secs(60);

/// Where the store's container is and how to authenticate to it.
#[derive(Clone)]
pub enum BlobLocation {
    /// A container URL carrying a SAS (Azurite, local runs).
    SasUrl(String),
    /// A container URL reached with the app's managed identity.
    ManagedIdentity {
        /// `https://{account}.blob.core.windows.net/{container}`.
        container_url: String,
        /// A user-assigned identity's client id, when not the system identity.
        client_id: Option<String>,
    },
}

/// What a blob held and the ETag it had when read.
struct Read<T> {
    value: T,
    etag: Etag,
}

#[derive(Serialize, Deserialize)]
struct LedgerEntry {
    #[serde(rename = "ticketId")]
    ticket_id: u64,
    /// Unix seconds when recorded.
    at: u64,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct LinkRecord {
    #[serde(rename = "ticketId")]
    ticket_id: u64,
    reference: String,
    /// Absent in records written before accounts were recorded: they still read.
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
}

#[derive(Serialize, Deserialize, Default, Clone, Copy)]
struct SyncRecord {
    watermark: u64,
    #[serde(rename = "closeMirrored")]
    close_mirrored: bool,
    /// Absent in records written before closes were two-phase: they still read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    closing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doubt: Option<u64>,
    #[serde(rename = "createdAt", default, skip_serializing_if = "Option::is_none")]
    created_at: Option<i64>,
    #[serde(
        rename = "seenAction",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    seen_action: Option<i64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A blob name for an arbitrary key: the key's SHA-256, so any event id or reference is safe.
fn hashed(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}/{}.json",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

fn unavailable(e: &azure_core::Error) -> StateError {
    StateError::Unavailable(format!(
        "blob storage: {}",
        e.http_status()
            .map_or_else(|| e.to_string(), |s| s.to_string())
    ))
}

/// A storage call bounded by [`CALL_TIMEOUT`]; running out counts as a transport error.
async fn timed<T>(
    call: impl std::future::Future<Output = azure_core::Result<T>>,
) -> azure_core::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Io,
                "storage call timed out",
            ))
        })
}

fn content(
    body: &azure_core::Bytes,
) -> RequestContent<azure_core::Bytes, azure_core::http::NoFormat> {
    body.clone().into()
}

/// The container itself is gone.
fn container_missing(e: &azure_core::Error) -> bool {
    matches!(e.kind(), azure_core::error::ErrorKind::HttpResponse { status: StatusCode::NotFound, error_code: Some(code), .. } if code == "ContainerNotFound")
}

/// The conditional write lost: the blob exists (create) or changed (replace).
fn lost_race(e: &azure_core::Error) -> bool {
    matches!(
        e.http_status(),
        Some(StatusCode::Conflict | StatusCode::PreconditionFailed)
    )
}

/// Azure Blob Storage state.
pub struct BlobStore {
    container: Arc<BlobContainerClient>,
    ttl: Duration,
    ready: OnceCell<()>,
    /// ETags of ticket sync blobs as last read or written here, for replace-if-ETag.
    sync_etags: Mutex<HashMap<u64, Etag>>,
}

impl BlobStore {
    /// A store on `location`; nothing is contacted until first used.
    pub fn new(location: &BlobLocation, ledger_ttl: Duration) -> Result<Self, StateError> {
        // Fail fast: the webhook's own deadline and the sender's re-delivery are the retry.
        let retry = RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(100),
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(3),
            max_delay: azure_core::time::Duration::seconds(1),
        });
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                retry,
                ..ClientOptions::default()
            },
            ..BlobContainerClientOptions::default()
        };
        let bad = |e: azure_core::Error| StateError::Unavailable(format!("blob store set-up: {e}"));
        let container = match location {
            BlobLocation::SasUrl(url) => {
                let url = url
                    .parse()
                    .map_err(|_| StateError::Unavailable("STATE_BLOB_URL is not a URL".into()))?;
                BlobContainerClient::new(url, None, Some(options)).map_err(bad)?
            }
            BlobLocation::ManagedIdentity {
                container_url,
                client_id,
            } => {
                let url = container_url.parse().map_err(|_| {
                    StateError::Unavailable("the storage endpoint is not a URL".into())
                })?;
                let credential = azure_identity::ManagedIdentityCredential::new(Some(
                    azure_identity::ManagedIdentityCredentialOptions {
                        user_assigned_id: client_id
                            .clone()
                            .map(azure_identity::UserAssignedId::ClientId),
                        ..Default::default()
                    },
                ))
                .map_err(bad)?;
                BlobContainerClient::new(url, Some(credential), Some(options)).map_err(bad)?
            }
        };
        Ok(Self {
            container: Arc::new(container),
            ttl: ledger_ttl,
            ready: OnceCell::new(),
            sync_etags: Mutex::default(),
        })
    }

    /// Creates the container on first use (once per process).
    async fn ensure_container(&self) -> Result<(), StateError> {
        self.ready
            .get_or_try_init(|| self.create_container())
            .await
            .map(drop)
    }

    async fn create_container(&self) -> Result<(), StateError> {
        match timed(self.container.create(None)).await {
            Ok(_) => Ok(()),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn read<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Read<T>>, StateError> {
        self.ensure_container().await?;
        let blob = self.container.blob_client(name);
        let result = match timed(blob.download(None)).await {
            Ok(r) => r,
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => return Ok(None),
            Err(e) => return Err(unavailable(&e)),
        };
        let etag = result
            .properties
            .etag
            .clone()
            .ok_or_else(|| StateError::Unavailable("blob without ETag".into()))?;
        let bytes = timed(result.body.collect())
            .await
            .map_err(|e| unavailable(&e))?;
        // An unreadable record is treated as absent and will be overwritten conditionally.
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Some(Read { value, etag })),
            Err(_) => {
                tracing::warn!(blob = name, "unreadable state blob; treating it as absent");
                Ok(None)
            }
        }
    }

    /// Writes `value` only if the blob is absent (`etag` None) or still has `etag`.
    /// `Ok(None)` means the condition failed: someone else wrote first.
    async fn write<T: Serialize>(
        &self,
        name: &str,
        value: &T,
        etag: Option<&Etag>,
    ) -> Result<Option<Etag>, StateError> {
        let options = match etag {
            Some(etag) => BlobClientUploadOptions {
                if_match: Some(etag.clone()),
                ..Default::default()
            },
            None => BlobClientUploadOptions::default().if_not_exists(),
        };
        self.upload(name, value, options).await
    }

    /// Writes `value` whatever the blob holds: for records only one owner writes (under a
    /// claim), or whose last writer may win.
    async fn overwrite<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        self.upload(name, value, BlobClientUploadOptions::default())
            .await
            .map(drop)
    }

    async fn upload<T: Serialize>(
        &self,
        name: &str,
        value: &T,
        options: BlobClientUploadOptions<'_>,
    ) -> Result<Option<Etag>, StateError> {
        self.ensure_container().await?;
        let body = serde_json::to_vec(value).map_err(|e| StateError::Unavailable(e.to_string()))?;
        let body = azure_core::Bytes::from(body);
        let blob = self.container.blob_client(name);
        let mut result = timed(blob.upload(content(&body), Some(options.clone()))).await;
        // The container was deleted (or the emulator lost it): make it again, once.
        if let Err(e) = &result
            && container_missing(e)
        {
            tracing::warn!("state container missing; creating it again");
            self.create_container().await?;
            result = timed(blob.upload(content(&body), Some(options))).await;
        }
        match result {
            Ok(result) => Ok(Some(result.etag.unwrap_or_else(|| Etag::from("*")))),
            Err(e) if lost_race(&e) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Deletes the blob if it still has `etag` (any blob without one); a changed or missing blob
    /// is left alone.
    async fn delete_if(&self, name: &str, etag: Option<&Etag>) -> Result<(), StateError> {
        let options = BlobClientDeleteOptions {
            if_match: etag.cloned(),
            ..Default::default()
        };
        match timed(self.container.blob_client(name).delete(Some(options))).await {
            Ok(_) => Ok(()),
            Err(e) if lost_race(&e) || e.http_status() == Some(StatusCode::NotFound) => Ok(()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Deletes the blob if it still has `etag`; a changed or missing blob is left alone.
    async fn delete(&self, name: &str, etag: &Etag) -> Result<(), StateError> {
        self.delete_if(name, Some(etag)).await
    }

    fn fresh(&self, at: u64) -> bool {
        now_ms() / 1000 < at.saturating_add(self.ttl.as_secs())
    }

    /// Records a ledger entry: create-if-absent, or replace an expired one.
    async fn record(&self, name: &str, ticket_id: u64) -> Result<(), StateError> {
        let entry = LedgerEntry {
            ticket_id,
            at: now_ms() / 1000,
        };
        for _ in 0..3 {
            if self.write(name, &entry, None).await?.is_some() {
                return Ok(());
            }
            match self.read::<LedgerEntry>(name).await? {
                // Someone recorded it already: the same fact, nothing to do.
                Some(existing) if self.fresh(existing.value.at) => return Ok(()),
                Some(expired)
                    if self
                        .write(name, &entry, Some(&expired.etag))
                        .await?
                        .is_some() =>
                {
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(StateError::Unavailable(format!(
            "could not record {name}: contended"
        )))
    }

    /// The reference's link: created if absent, its account filled in when this ticket owns it;
    /// another ticket's link is left as it is. The owner afterwards.
    async fn claim_reference(&self, name: &str, link: &LinkRecord) -> Result<u64, StateError> {
        for _ in 0..3 {
            match self.read::<LinkRecord>(name).await? {
                Some(existing) if existing.value.ticket_id != link.ticket_id => {
                    return Ok(existing.value.ticket_id);
                }
                Some(existing) if existing.value == *link => return Ok(link.ticket_id),
                Some(existing) => {
                    if self
                        .write(name, link, Some(&existing.etag))
                        .await?
                        .is_some()
                    {
                        return Ok(link.ticket_id);
                    }
                }
                None => {
                    if self.write(name, link, None).await?.is_some() {
                        return Ok(link.ticket_id);
                    }
                }
            }
        }
        Err(StateError::Unavailable(format!(
            "could not link {name}: contended"
        )))
    }

    /// Writes a link: create-if-absent, or replace a different one.
    async fn put_link(&self, name: &str, link: &LinkRecord) -> Result<(), StateError> {
        for _ in 0..3 {
            match self.read::<LinkRecord>(name).await? {
                Some(existing) if existing.value == *link => return Ok(()),
                Some(existing) => {
                    if self
                        .write(name, link, Some(&existing.etag))
                        .await?
                        .is_some()
                    {
                        return Ok(());
                    }
                }
                None => {
                    if self.write(name, link, None).await?.is_some() {
                        return Ok(());
                    }
                }
            }
        }
        Err(StateError::Unavailable(format!(
            "could not link {name}: contended"
        )))
    }
}

#[async_trait]
impl StateStore for BlobStore {
    async fn processed_event(&self, event_id: &str) -> Result<Option<u64>, StateError> {
        let entry = self
            .read::<LedgerEntry>(&hashed("events", event_id))
            .await?;
        Ok(entry
            .filter(|e| self.fresh(e.value.at))
            .map(|e| e.value.ticket_id))
    }

    async fn record_event(&self, event_id: &str, ticket_id: u64) -> Result<(), StateError> {
        self.record(&hashed("events", event_id), ticket_id).await
    }

    async fn delivery_processed(&self, delivery_id: &str) -> Result<bool, StateError> {
        let entry = self
            .read::<LedgerEntry>(&hashed("deliveries", delivery_id))
            .await?;
        Ok(entry.is_some_and(|e| self.fresh(e.value.at)))
    }

    async fn record_delivery(&self, delivery_id: &str) -> Result<(), StateError> {
        self.record(&hashed("deliveries", delivery_id), 0).await
    }

    async fn ticket_for_reference(&self, reference: &str) -> Result<Option<u64>, StateError> {
        let link = self.read::<LinkRecord>(&hashed("refs", reference)).await?;
        Ok(link
            .filter(|l| l.value.reference == reference)
            .map(|l| l.value.ticket_id))
    }

    async fn link_for_ticket(&self, ticket_id: u64) -> Result<Option<Link>, StateError> {
        let link = self
            .read::<LinkRecord>(&format!("tickets/{ticket_id}/ref.json"))
            .await?;
        Ok(link
            .filter(|l| l.value.ticket_id == ticket_id)
            .map(|l| Link {
                reference: l.value.reference,
                account_id: l.value.account_id,
            }))
    }

    async fn link(
        &self,
        reference: &str,
        ticket_id: u64,
        account_id: Option<&str>,
    ) -> Result<u64, StateError> {
        let link = LinkRecord {
            ticket_id,
            reference: reference.to_string(),
            account_id: account_id.map(str::to_string),
        };
        let owner = self
            .claim_reference(&hashed("refs", reference), &link)
            .await?;
        if owner == ticket_id {
            self.put_link(&format!("tickets/{ticket_id}/ref.json"), &link)
                .await?;
        }
        Ok(owner)
    }

    async fn unlink(&self, reference: &str, ticket_id: u64) -> Result<(), StateError> {
        let name = hashed("refs", reference);
        match self.read::<LinkRecord>(&name).await? {
            Some(link) if link.value.ticket_id == ticket_id => self.delete(&name, &link.etag).await,
            _ => Ok(()),
        }
    }

    async fn ticket_sync(&self, ticket_id: u64) -> Result<TicketSync, StateError> {
        let read = self
            .read::<SyncRecord>(&format!("tickets/{ticket_id}/sync.json"))
            .await?;
        let mut etags = self.sync_etags.lock().unwrap_or_else(|p| p.into_inner());
        Ok(match read {
            Some(r) => {
                etags.insert(ticket_id, r.etag);
                TicketSync {
                    watermark: r.value.watermark,
                    close_mirrored: r.value.close_mirrored,
                    closing: r.value.closing,
                    doubt: r.value.doubt,
                    created_at: r.value.created_at,
                    seen_action: r.value.seen_action,
                }
            }
            None => {
                etags.remove(&ticket_id);
                TicketSync::default()
            }
        })
    }

    async fn set_ticket_sync(&self, ticket_id: u64, sync: TicketSync) -> Result<(), StateError> {
        let name = format!("tickets/{ticket_id}/sync.json");
        let record = SyncRecord {
            watermark: sync.watermark,
            close_mirrored: sync.close_mirrored,
            closing: sync.closing,
            doubt: sync.doubt,
            created_at: sync.created_at,
            seen_action: sync.seen_action,
        };
        let known = self
            .sync_etags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ticket_id)
            .cloned();
        let written = match known {
            Some(etag) => self.write(&name, &record, Some(&etag)).await?,
            // Never read here (CfToHalo's first write, or another instance's ticket): read now.
            None => match self.read::<SyncRecord>(&name).await? {
                Some(current) => self.write(&name, &record, Some(&current.etag)).await?,
                None => self.write(&name, &record, None).await?,
            },
        };
        let mut etags = self.sync_etags.lock().unwrap_or_else(|p| p.into_inner());
        match written {
            Some(etag) => {
                etags.insert(ticket_id, etag);
                Ok(())
            }
            // Someone else advanced this ticket meanwhile (a claim taken over): never overwrite.
            None => {
                etags.remove(&ticket_id);
                Err(StateError::Unavailable(format!(
                    "ticket {ticket_id} was advanced elsewhere"
                )))
            }
        }
    }

    async fn claim(
        &self,
        key: &str,
        deadline: Deadline,
        hold_for: Duration,
    ) -> Result<Claim, StateError> {
        self.claim_waiting(key, deadline, hold_for).await
    }

    async fn try_claim(&self, key: &str, hold_for: Duration) -> Result<Option<Claim>, StateError> {
        self.claim_now(key, hold_for).await
    }

    async fn remember_mac(
        &self,
        mac: &str,
        event_id: &str,
        ttl: Duration,
    ) -> Result<String, StateError> {
        self.first_event_for_mac(mac, event_id, ttl).await
    }

    async fn put_record(&self, kind: &str, key: &str, value: &Value) -> Result<(), StateError> {
        self.put_any(kind, key, value).await
    }

    async fn create_record(
        &self,
        kind: &str,
        key: &str,
        value: &Value,
    ) -> Result<bool, StateError> {
        self.create_any(kind, key, value).await
    }

    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Value>, StateError> {
        Ok(self.get_any(kind, key).await?.map(|r| r.value))
    }

    async fn list_records(&self, kind: &str) -> Result<Vec<(String, Value)>, StateError> {
        self.list_any(kind).await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StateError> {
        self.delete_any(kind, key, None).await.map(drop)
    }

    async fn index_put(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.index_put_any(index, key).await
    }

    async fn index_delete(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.index_delete_any(index, key).await
    }

    async fn index_range(
        &self,
        index: &str,
        upto: &str,
        limit: usize,
    ) -> Result<Vec<String>, StateError> {
        self.index_range_any(index, upto, limit).await
    }

    async fn delete_record_if(
        &self,
        kind: &str,
        key: &str,
        seen: &Value,
    ) -> Result<bool, StateError> {
        self.delete_any(kind, key, Some(seen)).await
    }
}

#[cfg(test)]
mod tests {
    use super::LinkRecord;

    #[test]
    fn link_records_written_before_accounts_were_recorded_still_read() {
        let old: LinkRecord =
            serde_json::from_str(r#"{"ticketId":7,"reference":"cf|sentinel|abc"}"#).unwrap();
        assert_eq!((old.ticket_id, old.account_id), (7, None));
        let new = LinkRecord {
            account_id: Some("acct".into()),
            ..old
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(
            text,
            r#"{"ticketId":7,"reference":"cf|sentinel|abc","accountId":"acct"}"#
        );
    }
}
