//! Where secrets come from when the environment lacks them (CONTRACT §6): the Key Vault
//! settings. The secret values themselves are read by `crate::secrets`.

use std::collections::HashMap;

use super::SettingsError;
use super::parse::parse_url;

/// Where secrets come from when the environment lacks them (CONTRACT §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultSettings {
    /// `KEY_VAULT_URI`, e.g. `https://kv-name.vault.azure.net`.
    pub uri: String,
    /// `AZURE_CLIENT_ID`: a user-assigned identity, when not the system identity.
    pub client_id: Option<String>,
}

/// Reads `KEY_VAULT_URI` and `AZURE_CLIENT_ID` straight from `vars`: they decide how the
/// other settings are read, so they come first.
pub(super) fn parse(
    vars: &HashMap<String, String>,
) -> Result<Option<KeyVaultSettings>, SettingsError> {
    let Some(uri) = vars
        .get("KEY_VAULT_URI")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if !uri.to_ascii_lowercase().starts_with("https://") {
        return Err(SettingsError::new(
            "KEY_VAULT_URI",
            "expected the https URL of a vault",
        ));
    }
    let client_id = vars
        .get("AZURE_CLIENT_ID")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(Some(KeyVaultSettings {
        uri: parse_url("KEY_VAULT_URI", uri)?,
        client_id,
    }))
}
