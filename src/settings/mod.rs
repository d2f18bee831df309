//! Typed settings, parsed and validated once at start-up (CONTRACT §2).
//!
//! A *missing* required value is not fatal: the function that needs it answers
//! `503 not configured` and the other keeps working. A *malformed* value is fatal
//! ([`SettingsError`]), because running with a half-understood configuration could
//! file tickets in the wrong place.
//!
//! One file per function or concern: `common` (process-wide values and the Halo
//! connection), `cf_to_halo` (with the agent verdict's settings), `halo_to_cf`, `contraforce`
//! (the API's route shape and workspaces), `reconcile`, `state`, `secrets` (Key Vault) and
//! `template` (the ticket title template). Every value parser lives in `parse`; raw values are read
//! through `source::Source`. A new group of settings gets its own file with its struct and
//! a `parse(src)` function, called from [`Settings::from_vars`] and re-exported here.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;

mod cf_to_halo;
mod common;
mod contraforce;
mod halo_to_cf;
mod parse;
mod reconcile;
mod secrets;
mod signature_form;
mod source;
mod state;
mod template;
#[cfg(test)]
mod tests;

pub use cf_to_halo::{
    CfToHaloSettings, InvestigationAction, InvestigationSettings, MappingSettings, NoteOutcome,
    TestEvents,
};
pub use common::{HaloConnection, LogFormat, RateLimit};
pub use contraforce::{ApiRoutes, ContraForceApi};
pub use halo_to_cf::HaloToCfSettings;
pub use reconcile::{NoteMode, ReconcileSettings};
pub use secrets::KeyVaultSettings;
pub use signature_form::{DEFAULT_SIGNED_HEADERS, SignatureForm, SignatureLayout};
pub use state::{StateKind, StateSettings};
pub use template::{Placeholder, Segment, TitleTemplate};

use source::Source;

/// A setting whose value cannot be used; start-up stops with this one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {name}: {problem}")]
pub struct SettingsError {
    /// The environment variable's name.
    pub name: String,
    /// What is wrong with its value (never the value itself when it is a secret).
    pub problem: String,
}

impl SettingsError {
    fn new(name: &str, problem: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}

/// Either a function's settings or the names of the required settings that are missing.
pub type Readiness<T> = Result<T, Vec<String>>;

/// Everything the process needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port to listen on (127.0.0.1).
    pub port: u16,
    /// Request body cap in bytes.
    pub max_body_bytes: usize,
    /// Total upstream time one webhook may spend.
    pub request_deadline: Duration,
    /// Client-side Halo call budget.
    pub halo_rate_limit: RateLimit,
    /// Log line format.
    pub log_format: LogFormat,
    /// Shared state backend.
    pub state: StateSettings,
    /// Halo connection, shared by both functions (one client, one token cache).
    pub halo: Option<HaloConnection>,
    /// CfToHalo settings, or what is missing.
    pub cf_to_halo: Readiness<CfToHaloSettings>,
    /// HaloToCf settings, or what is missing.
    pub halo_to_cf: Readiness<HaloToCfSettings>,
    /// Reconcile settings (all have defaults; it runs what the other two have configured).
    pub reconcile: ReconcileSettings,
    /// Settings that held an unresolved Key Vault reference (logged at start).
    pub unresolved_key_vault_refs: Vec<String>,
    /// Key Vault for the secret settings, when `KEY_VAULT_URI` is set.
    pub key_vault: Option<KeyVaultSettings>,
    /// Secret settings given in the environment (they win over Key Vault).
    pub secret_env: HashMap<&'static str, SecretString>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Parses settings from a name → value map (the environment, or a test's map).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Settings, SettingsError> {
        let key_vault = secrets::parse(vars)?;
        let mut src = Source::new(vars, key_vault.is_some());
        let secret_env: HashMap<&'static str, SecretString> = crate::secrets::SECRET_SETTINGS
            .into_iter()
            .filter_map(|name| src.secret(name).map(|v| (name, v)))
            .collect();

        // The order of reads is the order unresolved Key Vault references are reported in.
        let common = common::parse(&mut src)?;
        let state = state::parse(&mut src)?;
        let halo = common::parse_halo_connection(&mut src)?;
        let cf_to_halo = cf_to_halo::parse(&mut src, halo.as_ref())?;
        let halo_to_cf = halo_to_cf::parse(&mut src, halo.as_ref())?;
        let reconcile = reconcile::parse(&mut src)?;
        Ok(Settings {
            port: common.port,
            max_body_bytes: common.max_body_bytes,
            request_deadline: common.request_deadline,
            halo_rate_limit: common.halo_rate_limit,
            log_format: common.log_format,
            state,
            halo,
            cf_to_halo,
            halo_to_cf,
            reconcile,
            unresolved_key_vault_refs: src.into_unresolved(),
            key_vault,
            secret_env,
        })
    }
}
