//! Where shared state lives (CONTRACT §5): memory or Azure Blob Storage.

use std::time::Duration;

use secrecy::SecretString;

use super::SettingsError;
use super::parse::{parse_container_name, parse_url};
use super::source::Source;

/// Where shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKind {
    /// In process; lost on restart.
    Memory,
    /// Azure Blob Storage.
    Blob,
}

/// State store settings (CONTRACT §5).
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// Backend.
    pub kind: StateKind,
    /// Blob container name.
    pub container: String,
    /// Container URL with SAS (wins over the AzureWebJobsStorage settings).
    pub blob_url: Option<SecretString>,
    /// `AzureWebJobsStorage__blobServiceUri`.
    pub blob_service_uri: Option<String>,
    /// `AzureWebJobsStorage__accountName`.
    pub account_name: Option<String>,
    /// `AzureWebJobsStorage__clientId`: a user-assigned identity for storage.
    pub storage_client_id: Option<String>,
    /// How long processed event and delivery ids are remembered.
    pub ledger_ttl: Duration,
}

/// Reads the state store settings; a blob store needs one of its endpoints.
pub(super) fn parse(src: &mut Source) -> Result<StateSettings, SettingsError> {
    let kind = src.choice(
        "STATE_STORE",
        &[("memory", StateKind::Memory), ("blob", StateKind::Blob)],
    )?;
    let container = parse_container_name(
        "STATE_CONTAINER",
        src.get("STATE_CONTAINER").unwrap_or("cf-halo-state"),
    )?;
    let blob_url = match src.get("STATE_BLOB_URL") {
        Some(v) => {
            parse_url("STATE_BLOB_URL", v)?;
            Some(SecretString::from(v.to_string()))
        }
        None => None,
    };
    let blob_service_uri = src.url("AzureWebJobsStorage__blobServiceUri")?;
    let account_name = src
        .get("AzureWebJobsStorage__accountName")
        .map(str::to_string);
    let storage_client_id = src.get("AzureWebJobsStorage__clientId").map(str::to_string);
    if kind == StateKind::Blob
        && blob_url.is_none()
        && blob_service_uri.is_none()
        && account_name.is_none()
    {
        return Err(SettingsError::new(
            "STATE_STORE",
            "blob needs STATE_BLOB_URL, AzureWebJobsStorage__blobServiceUri or AzureWebJobsStorage__accountName",
        ));
    }
    let ttl_days = src.u64_or("LEDGER_TTL_DAYS", 7)?;
    if !(1..=3650).contains(&ttl_days) {
        return Err(SettingsError::new("LEDGER_TTL_DAYS", "must be 1–3650 days"));
    }
    Ok(StateSettings {
        kind,
        container,
        blob_url,
        blob_service_uri,
        account_name,
        storage_client_id,
        ledger_ttl: Duration::from_secs(ttl_days * 86_400),
    })
}
