//! The raw-value reader: empty values and unresolved Key Vault references count as absent.

use std::collections::HashMap;

use secrecy::SecretString;

use super::SettingsError;
use super::parse::{parse_choice, parse_u64, parse_url};

/// Marks an Azure app setting whose Key Vault reference the platform could not resolve.
const UNRESOLVED_KV_REF: &str = "@Microsoft.KeyVault(";

/// Reads raw values, treating empty and unresolved Key Vault references as absent.
pub(super) struct Source<'a> {
    vars: &'a HashMap<String, String>,
    unresolved: Vec<String>,
    /// Secrets absent here may still come from Key Vault: decided at request time.
    key_vault: bool,
}

impl<'a> Source<'a> {
    /// A reader over `vars`; `key_vault` says whether absent secrets may come from a vault.
    pub(super) fn new(vars: &'a HashMap<String, String>, key_vault: bool) -> Self {
        Self {
            vars,
            unresolved: Vec::new(),
            key_vault,
        }
    }

    /// The names read so far that held an unresolved Key Vault reference, in read order.
    pub(super) fn into_unresolved(self) -> Vec<String> {
        self.unresolved
    }

    /// The trimmed value, or `None` when empty or an unresolved Key Vault reference.
    pub(super) fn get(&mut self, name: &str) -> Option<&'a str> {
        let value = self.vars.get(name)?.trim();
        if value.is_empty() {
            return None;
        }
        if value.starts_with(UNRESOLVED_KV_REF) {
            if !self.unresolved.iter().any(|n| n == name) {
                self.unresolved.push(name.to_string());
            }
            return None;
        }
        Some(value)
    }

    /// The value as a secret.
    pub(super) fn secret(&mut self, name: &str) -> Option<SecretString> {
        self.get(name).map(|v| SecretString::from(v.to_string()))
    }

    /// Whether a secret setting can be had: from the environment or, later, Key Vault.
    pub(super) fn secret_available(&mut self, name: &str) -> bool {
        self.get(name).is_some() || self.key_vault
    }

    /// An optional whole number.
    pub(super) fn u64(&mut self, name: &str) -> Result<Option<u64>, SettingsError> {
        self.get(name).map(|v| parse_u64(name, v)).transpose()
    }

    /// A whole number with a default.
    pub(super) fn u64_or(&mut self, name: &str, default: u64) -> Result<u64, SettingsError> {
        Ok(self.u64(name)?.unwrap_or(default))
    }

    /// An optional http(s) URL, without its trailing slash.
    pub(super) fn url(&mut self, name: &str) -> Result<Option<String>, SettingsError> {
        self.get(name).map(|v| parse_url(name, v)).transpose()
    }

    /// One of `choices` (case-insensitive); the first one when the setting is absent.
    pub(super) fn choice<T: Clone>(
        &mut self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<T, SettingsError> {
        match self.get(name) {
            Some(v) => parse_choice(name, v, choices),
            None => Ok(choices[0].1.clone()),
        }
    }
}
