//! Records of unfinished work and the signature (MAC) ledger on Blob Storage. A record is the
//! blob `{kind}/{sha256(key)}.json` holding `{"key","value"}`, so any key is a safe blob name and
//! a listing of the `{kind}/` prefix gives the keys back.

use std::time::Duration;

use azure_core::http::Etag;
use azure_storage_blob::models::{BlobClientUploadOptions, BlobContainerClientListBlobsOptions};
use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BlobStore, hashed, now_ms, timed, unavailable};
use crate::state::StateError;

#[derive(Serialize, Deserialize)]
struct RecordBlob {
    key: String,
    value: Value,
}

#[derive(Serialize, Deserialize)]
struct MacEntry {
    #[serde(rename = "eventId")]
    event_id: String,
    /// Unix milliseconds when recorded.
    #[serde(rename = "atMs")]
    at_ms: u64,
}

/// A record as read, with the ETag for a conditional delete.
pub(super) struct Record {
    pub(super) value: Value,
    etag: Etag,
}

impl BlobStore {
    pub(super) async fn get_any(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<Record>, StateError> {
        let read = self.read::<RecordBlob>(&hashed(kind, key)).await?;
        Ok(read.filter(|r| r.value.key == key).map(|r| Record {
            value: r.value.value,
            etag: r.etag,
        }))
    }

    pub(super) async fn put_any(
        &self,
        kind: &str,
        key: &str,
        value: &Value,
    ) -> Result<(), StateError> {
        let record = RecordBlob {
            key: key.to_string(),
            value: value.clone(),
        };
        self.overwrite(&hashed(kind, key), &record).await
    }

    /// Creates the record if absent (`If-None-Match: *`); false when another writer was first.
    pub(super) async fn create_any(
        &self,
        kind: &str,
        key: &str,
        value: &Value,
    ) -> Result<bool, StateError> {
        let record = RecordBlob {
            key: key.to_string(),
            value: value.clone(),
        };
        Ok(self
            .write(&hashed(kind, key), &record, None)
            .await?
            .is_some())
    }

    /// Deletes the record; with `seen`, only while it still holds that value (If-Match on the
    /// ETag it was read with). False when it changed meanwhile.
    pub(super) async fn delete_any(
        &self,
        kind: &str,
        key: &str,
        seen: Option<&Value>,
    ) -> Result<bool, StateError> {
        let Some(current) = self.get_any(kind, key).await? else {
            return Ok(seen.is_none());
        };
        if seen.is_some_and(|v| *v != current.value) {
            return Ok(false);
        }
        self.delete(&hashed(kind, key), &current.etag).await?;
        // A delete that lost its If-Match leaves the newer value: read to tell.
        Ok(seen.is_none() || self.get_any(kind, key).await?.is_none())
    }

    pub(super) async fn list_any(&self, kind: &str) -> Result<Vec<(String, Value)>, StateError> {
        self.ensure_container().await?;
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(format!("{kind}/")),
            ..Default::default()
        };
        let mut pager = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| unavailable(&e))?;
        let mut names = Vec::new();
        while let Some(item) = timed(pager.try_next()).await.map_err(|e| unavailable(&e))? {
            names.extend(item.name);
        }
        let mut records = Vec::with_capacity(names.len());
        for name in names {
            // Deleted between the listing and the read: simply gone.
            if let Some(read) = self.read::<RecordBlob>(&name).await? {
                records.push((read.value.key, read.value.value));
            }
        }
        Ok(records)
    }

    /// An index entry is the empty blob `index/{index}/{key}`: listing a prefix returns names in
    /// byte order, so the entries up to a key are read without reading any other.
    pub(super) async fn index_put_any(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.upload(
            &format!("index/{index}/{key}"),
            &Value::Null,
            BlobClientUploadOptions::default(),
        )
        .await
        .map(drop)
    }

    pub(super) async fn index_delete_any(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.delete_if(&format!("index/{index}/{key}"), None).await
    }

    pub(super) async fn index_range_any(
        &self,
        index: &str,
        upto: &str,
        limit: usize,
    ) -> Result<Vec<String>, StateError> {
        self.ensure_container().await?;
        let prefix = format!("index/{index}/");
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.clone()),
            maxresults: Some(i32::try_from(limit.clamp(1, 5000)).unwrap_or(5000)),
            ..Default::default()
        };
        let mut pager = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| unavailable(&e))?;
        let mut keys = Vec::new();
        while let Some(item) = timed(pager.try_next()).await.map_err(|e| unavailable(&e))? {
            let Some(key) = item.name.as_deref().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            // Names come in byte order: the first one past `upto` ends the listing.
            if key > upto || keys.len() >= limit {
                break;
            }
            keys.push(key.to_owned());
        }
        Ok(keys)
    }

    /// The MAC ledger (CONTRACT §8.2): create-if-absent, an expired entry replaced conditionally.
    pub(super) async fn first_event_for_mac(
        &self,
        mac: &str,
        event_id: &str,
        ttl: Duration,
    ) -> Result<String, StateError> {
        let name = hashed("macs", mac);
        let mine = MacEntry {
            event_id: event_id.to_string(),
            at_ms: now_ms(),
        };
        for _ in 0..3 {
            if self.write(&name, &mine, None).await?.is_some() {
                return Ok(event_id.to_string());
            }
            match self.read::<MacEntry>(&name).await? {
                Some(first)
                    if now_ms() < first.value.at_ms.saturating_add(ttl.as_millis() as u64) =>
                {
                    return Ok(first.value.event_id);
                }
                Some(expired)
                    if self
                        .write(&name, &mine, Some(&expired.etag))
                        .await?
                        .is_some() =>
                {
                    return Ok(event_id.to_string());
                }
                _ => {}
            }
        }
        Err(StateError::Unavailable(format!(
            "could not record {name}: contended"
        )))
    }
}
