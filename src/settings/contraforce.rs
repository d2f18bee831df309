//! How the ContraForce API is reached (CONTRACT §4.3, §8.4, §8.6): its base URL and service
//! account, which route shape to call, and the workspace of each customer account.

use std::collections::BTreeMap;

use super::SettingsError;
use super::parse::{parse_choice, parse_number_map, parse_text_map};
use super::source::Source;

/// `CF_API_ROUTES`: which route shape of the v2 API to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRoutes {
    /// Start with `source`, switch to `workspace` once if only that answers.
    Auto,
    /// `/workspaces/{ws}/incidents/{Source}/{incidentId}/…` (the current API reference).
    Source,
    /// `/workspaces/{ws}/incidents/{incidentId}/…` (the samples).
    Workspace,
}

/// The ContraForce API settings.
#[derive(Debug, Clone)]
pub struct ContraForceApi {
    /// `CF_API_BASE_URL`, e.g. `https://portal.contraforce.com/api/v2` (no trailing slash).
    pub base_url: String,
    /// `CF_SERVICE_ACCOUNT_CLIENT_ID`.
    pub client_id: String,
    /// `CF_WORKSPACE_ID`: the workspace of accounts the map does not name.
    pub default_workspace: Option<String>,
    /// `CF_WORKSPACE_MAP`: account id → workspace id.
    pub workspace_map: BTreeMap<String, String>,
    /// `HALO_CLIENT_MAP`: account id → Halo client id (read backwards for unknown tickets).
    pub client_map: BTreeMap<String, u64>,
    /// `CF_API_ROUTES`.
    pub routes: ApiRoutes,
}

impl ContraForceApi {
    /// The workspace of an incident's account: the map's entry, else `CF_WORKSPACE_ID`.
    pub fn workspace_for(&self, account_id: Option<&str>) -> Option<&str> {
        account_id
            .and_then(|a| self.workspace_map.get(a))
            .or(self.default_workspace.as_ref())
            .map(String::as_str)
    }

    /// The one account `HALO_CLIENT_MAP` maps to this Halo client; none when zero or several do.
    pub fn account_for_client(&self, client_id: u64) -> Option<&str> {
        let mut accounts = self
            .client_map
            .iter()
            .filter(|(_, c)| **c == client_id)
            .map(|(a, _)| a.as_str());
        let first = accounts.next()?;
        accounts.next().is_none().then_some(first)
    }
}

/// What `parse` found: the settings, or nothing when a required part is absent.
pub(super) struct Parsed {
    /// The settings, when nothing required is missing.
    pub(super) api: Option<ContraForceApi>,
    /// The required settings that are absent (a workspace counts as present with either
    /// `CF_WORKSPACE_ID` or `CF_WORKSPACE_MAP`).
    pub(super) missing: Vec<&'static str>,
}

/// Reads the ContraForce API settings; absent required values are named in `missing`.
pub(super) fn parse(src: &mut Source) -> Result<Parsed, SettingsError> {
    let base_url = src.url("CF_API_BASE_URL")?;
    let client_id = src.get("CF_SERVICE_ACCOUNT_CLIENT_ID").map(str::to_string);
    let default_workspace = src.get("CF_WORKSPACE_ID").map(str::to_string);
    let workspace_map = match src.get("CF_WORKSPACE_MAP") {
        Some(v) => parse_text_map("CF_WORKSPACE_MAP", v)?,
        None => BTreeMap::new(),
    };
    let client_map = match src.get("HALO_CLIENT_MAP") {
        Some(v) => parse_number_map("HALO_CLIENT_MAP", v)?,
        None => BTreeMap::new(),
    };
    let routes = parse_choice(
        "CF_API_ROUTES",
        src.get("CF_API_ROUTES").unwrap_or("auto"),
        &[
            ("auto", ApiRoutes::Auto),
            ("source", ApiRoutes::Source),
            ("workspace", ApiRoutes::Workspace),
        ],
    )?;
    let mut missing = Vec::new();
    if base_url.is_none() {
        missing.push("CF_API_BASE_URL");
    }
    if client_id.is_none() {
        missing.push("CF_SERVICE_ACCOUNT_CLIENT_ID");
    }
    // With a map, accounts it does not name are simply ignored (CONTRACT §8.6).
    if default_workspace.is_none() && workspace_map.is_empty() {
        missing.push("CF_WORKSPACE_ID");
    }
    let api = match (base_url, client_id, missing.is_empty()) {
        (Some(base_url), Some(client_id), true) => Some(ContraForceApi {
            base_url,
            client_id,
            default_workspace,
            workspace_map,
            client_map,
            routes,
        }),
        _ => None,
    };
    Ok(Parsed { api, missing })
}
