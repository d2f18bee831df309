//! Typed settings, parsed and validated once at start-up (CONTRACT §2).
//!
//! A *missing* required value is not fatal: the function that needs it answers
//! `503 not configured` and the other keeps working. A *malformed* value is fatal
//! ([`SettingsError`]), because running with a half-understood configuration could
//! file tickets in the wrong place.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use secrecy::SecretString;

use crate::sync::mapping::TitleTemplate;

/// Marks an Azure app setting whose Key Vault reference the platform could not resolve.
const UNRESOLVED_KV_REF: &str = "@Microsoft.KeyVault(";

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
    /// Settings that held an unresolved Key Vault reference (logged at start).
    pub unresolved_key_vault_refs: Vec<String>,
    /// Key Vault for the secret settings, when `KEY_VAULT_URI` is set.
    pub key_vault: Option<KeyVaultSettings>,
    /// Secret settings given in the environment (they win over Key Vault).
    pub secret_env: HashMap<&'static str, SecretString>,
}

/// Where secrets come from when the environment lacks them (CONTRACT §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultSettings {
    /// `KEY_VAULT_URI`, e.g. `https://kv-name.vault.azure.net`.
    pub uri: String,
    /// `AZURE_CLIENT_ID`: a user-assigned identity, when not the system identity.
    pub client_id: Option<String>,
}

/// `text` or `json` log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// At most `calls` Halo calls in any `per` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed per window.
    pub calls: u32,
    /// Window length.
    pub per: Duration,
}

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

/// Halo OAuth and API endpoints.
#[derive(Debug, Clone)]
pub struct HaloConnection {
    /// Authorisation server, e.g. `https://x.halopsa.com/auth` (no trailing slash).
    pub auth_url: String,
    /// Resource server, e.g. `https://x.halopsa.com/api` (no trailing slash).
    pub api_base_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// Hosted tenant name, when set.
    pub tenant: Option<String>,
    /// Token scope.
    pub scope: String,
    /// Store the reference in this custom field instead of `thirdpartynumber`.
    pub external_ref_field_id: Option<u64>,
}

/// How test deliveries are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestEvents {
    /// Verified and mapped, nothing created.
    Ack,
    /// Treated like real events.
    Create,
}

/// Outcome of the private notes we write: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteOutcome {
    /// Sent as `outcome_id`.
    Id(u64),
    /// Sent as `outcome`.
    Name(String),
}

/// Settings of the CfToHalo function.
#[derive(Debug, Clone)]
pub struct CfToHaloSettings {
    /// Allowed |now − X-CF-Timestamp| in seconds.
    pub max_skew_seconds: u64,
    /// Test delivery handling.
    pub test_events: TestEvents,
    /// Ticket field choices.
    pub mapping: MappingSettings,
    /// Outcome of the re-delivery note.
    pub note_outcome: NoteOutcome,
}

/// Everything the incident → ticket mapping needs (CONTRACT §3.4).
#[derive(Debug, Clone)]
pub struct MappingSettings {
    /// `tickettype_id`.
    pub ticket_type_id: u64,
    /// Client for unmapped accounts.
    pub default_client_id: u64,
    /// Account id → Halo client id.
    pub client_map: HashMap<String, u64>,
    /// Lower-case severity → priority id.
    pub priority_map: HashMap<String, u64>,
    /// Summary template.
    pub title_template: TitleTemplate,
    /// `team` when set.
    pub team: Option<String>,
    /// `category_1` when set.
    pub category: Option<String>,
    /// Custom field carrying the reference, if not `thirdpartynumber`.
    pub external_ref_field_id: Option<u64>,
}

impl MappingSettings {
    /// Priority for a severity; unknown severities use the `Low` entry.
    pub fn priority_for(&self, severity: &str) -> u64 {
        let map = &self.priority_map;
        map.get(&severity.to_lowercase())
            .or_else(|| map.get("low"))
            .copied()
            .unwrap_or(3)
    }
}

/// Settings of the HaloToCf function.
#[derive(Debug, Clone)]
pub struct HaloToCfSettings {
    /// Header carrying the HMAC (lower case).
    pub signature_header: String,
    /// ContraForce API base, e.g. `https://prod.platform.contraforce.com/api/v2`.
    pub cf_api_base_url: String,
    /// Service account client id.
    pub cf_client_id: String,
    /// Workspace of every incident.
    pub cf_workspace_id: String,
    /// Status ids that mean "closed".
    pub closed_status_ids: Vec<u64>,
    /// Actions by this agent are ours and never forwarded.
    pub integration_agent_id: Option<u64>,
    /// Custom field carrying the reference, if not `thirdpartynumber`.
    pub external_ref_field_id: Option<u64>,
    /// `classification` sent when closing.
    pub close_classification: String,
    /// `classificationReason` sent when closing.
    pub close_classification_reason: String,
}

/// Reads raw values, treating empty and unresolved Key Vault references as absent.
struct Source<'a> {
    vars: &'a HashMap<String, String>,
    unresolved: Vec<String>,
    /// Secrets absent here may still come from Key Vault: decided at request time.
    key_vault: bool,
}

impl<'a> Source<'a> {
    fn get(&mut self, name: &str) -> Option<&'a str> {
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

    fn secret(&mut self, name: &str) -> Option<SecretString> {
        self.get(name).map(|v| SecretString::from(v.to_string()))
    }

    /// Whether a secret setting can be had: from the environment or, later, Key Vault.
    fn secret_available(&mut self, name: &str) -> bool {
        self.get(name).is_some() || self.key_vault
    }

    fn u64(&mut self, name: &str) -> Result<Option<u64>, SettingsError> {
        self.get(name).map(|v| parse_u64(name, v)).transpose()
    }

    fn u64_or(&mut self, name: &str, default: u64) -> Result<u64, SettingsError> {
        Ok(self.u64(name)?.unwrap_or(default))
    }

    fn url(&mut self, name: &str) -> Result<Option<String>, SettingsError> {
        self.get(name).map(|v| parse_url(name, v)).transpose()
    }
}

fn parse_u64(name: &str, value: &str) -> Result<u64, SettingsError> {
    value
        .parse::<u64>()
        .map_err(|_| SettingsError::new(name, format!("expected a whole number, got {value:?}")))
}

fn parse_url(name: &str, value: &str) -> Result<String, SettingsError> {
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(SettingsError::new(name, "expected an http(s) URL")),
    }
}

fn parse_id_list(name: &str, value: &str) -> Result<Vec<u64>, SettingsError> {
    let ids = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_u64(name, s))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(SettingsError::new(
            name,
            "expected one id or a comma list such as 9,10",
        ));
    }
    Ok(ids)
}

/// Parses `key=number,key=number`; keys are kept as written.
fn parse_number_map(name: &str, value: &str) -> Result<BTreeMap<String, u64>, SettingsError> {
    let mut map = BTreeMap::new();
    for pair in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, id) = pair.split_once('=').ok_or_else(|| {
            SettingsError::new(name, format!("expected key=id pairs, got {pair:?}"))
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(SettingsError::new(name, format!("empty key in {pair:?}")));
        }
        let id = id.trim().parse::<u64>().map_err(|_| {
            SettingsError::new(
                name,
                format!("expected a whole number after '=' in {pair:?}"),
            )
        })?;
        map.insert(key.to_string(), id);
    }
    Ok(map)
}

fn parse_priority_map(name: &str, value: &str) -> Result<HashMap<String, u64>, SettingsError> {
    let map: HashMap<String, u64> = parse_number_map(name, value)?
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    if !map.contains_key("low") {
        return Err(SettingsError::new(
            name,
            "needs a Low entry (used for unknown severities)",
        ));
    }
    Ok(map)
}

fn parse_rate_limit(name: &str, value: &str) -> Result<RateLimit, SettingsError> {
    let bad = || {
        SettingsError::new(
            name,
            format!("expected calls/seconds such as 300/300, got {value:?}"),
        )
    };
    let (calls, secs) = value.split_once('/').ok_or_else(bad)?;
    let calls = calls.trim().parse::<u32>().map_err(|_| bad())?;
    let secs = secs.trim().parse::<u64>().map_err(|_| bad())?;
    if calls == 0 || secs == 0 {
        return Err(bad());
    }
    Ok(RateLimit {
        calls,
        per: Duration::from_secs(secs),
    })
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Parses settings from a name → value map (the environment, or a test's map).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Settings, SettingsError> {
        let key_vault = parse_key_vault(vars)?;
        let mut src = Source {
            vars,
            unresolved: Vec::new(),
            key_vault: key_vault.is_some(),
        };
        let secret_env: HashMap<&'static str, SecretString> = crate::secrets::SECRET_SETTINGS
            .into_iter()
            .filter_map(|name| src.secret(name).map(|v| (name, v)))
            .collect();

        let port = match src.get("FUNCTIONS_CUSTOMHANDLER_PORT") {
            Some(v) => v.parse::<u16>().map_err(|_| {
                SettingsError::new(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    format!("expected a port number, got {v:?}"),
                )
            })?,
            None => 3000,
        };
        let max_body_bytes = src.u64_or("MAX_BODY_BYTES", 1_048_576)?;
        if max_body_bytes == 0 {
            return Err(SettingsError::new("MAX_BODY_BYTES", "must be above 0"));
        }
        let deadline = src.u64_or("REQUEST_DEADLINE_SECONDS", 20)?;
        if !(1..=220).contains(&deadline) {
            return Err(SettingsError::new(
                "REQUEST_DEADLINE_SECONDS",
                "must be 1–220 (Azure drops HTTP requests after 230 s)",
            ));
        }
        let halo_rate_limit = match src.get("HALO_RATE_LIMIT") {
            Some(v) => parse_rate_limit("HALO_RATE_LIMIT", v)?,
            None => RateLimit {
                calls: 300,
                per: Duration::from_secs(300),
            },
        };
        let log_format = match src
            .get("LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(SettingsError::new(
                    "LOG_FORMAT",
                    format!("expected text or json, got {other:?}"),
                ));
            }
        };
        let state = parse_state(&mut src)?;
        let halo = parse_halo_connection(&mut src)?;
        let cf_to_halo = parse_cf_to_halo(&mut src, halo.as_ref())?;
        let halo_to_cf = parse_halo_to_cf(&mut src, halo.as_ref())?;
        Ok(Settings {
            port,
            max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
            request_deadline: Duration::from_secs(deadline),
            halo_rate_limit,
            log_format,
            state,
            halo,
            cf_to_halo,
            halo_to_cf,
            unresolved_key_vault_refs: src.unresolved,
            key_vault,
            secret_env,
        })
    }
}

fn parse_state(src: &mut Source) -> Result<StateSettings, SettingsError> {
    let kind = match src
        .get("STATE_STORE")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("memory") => StateKind::Memory,
        Some("blob") => StateKind::Blob,
        Some(other) => {
            return Err(SettingsError::new(
                "STATE_STORE",
                format!("expected memory or blob, got {other:?}"),
            ));
        }
    };
    let container = src
        .get("STATE_CONTAINER")
        .unwrap_or("cf-halo-state")
        .to_string();
    let valid_container = (3..=63).contains(&container.len())
        && container
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !container.starts_with('-');
    if !valid_container {
        return Err(SettingsError::new(
            "STATE_CONTAINER",
            "a container name is 3–63 lower-case letters, digits and dashes",
        ));
    }
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

fn parse_key_vault(
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

fn parse_halo_connection(src: &mut Source) -> Result<Option<HaloConnection>, SettingsError> {
    let auth_url = src.url("HALO_AUTH_URL")?;
    let api_base_url = src.url("HALO_API_BASE_URL")?;
    let client_id = src.get("HALO_CLIENT_ID").map(str::to_string);
    let tenant = src.get("HALO_TENANT").map(str::to_string);
    let scope = src.get("HALO_SCOPE").unwrap_or("all").to_string();
    let external_ref_field_id = src.u64("HALO_EXTERNAL_REF_FIELD_ID")?;
    Ok(match (auth_url, api_base_url, client_id) {
        (Some(auth_url), Some(api_base_url), Some(client_id)) => Some(HaloConnection {
            auth_url,
            api_base_url,
            client_id,
            tenant,
            scope,
            external_ref_field_id,
        }),
        _ => None,
    })
}

/// Names of the four Halo connection settings that cannot be had.
fn missing_halo(src: &mut Source) -> Vec<String> {
    let mut missing: Vec<String> = ["HALO_AUTH_URL", "HALO_API_BASE_URL", "HALO_CLIENT_ID"]
        .into_iter()
        .filter(|n| src.get(n).is_none())
        .map(str::to_string)
        .collect();
    if !src.secret_available("HALO_CLIENT_SECRET") {
        missing.push("HALO_CLIENT_SECRET".to_string());
    }
    missing
}

fn parse_cf_to_halo(
    src: &mut Source,
    halo: Option<&HaloConnection>,
) -> Result<Readiness<CfToHaloSettings>, SettingsError> {
    let max_skew_seconds = src.u64_or("CF_MAX_SKEW_SECONDS", 300)?;
    let test_events = match src
        .get("CF_TEST_EVENTS")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("ack") => TestEvents::Ack,
        Some("create") => TestEvents::Create,
        Some(other) => {
            return Err(SettingsError::new(
                "CF_TEST_EVENTS",
                format!("expected ack or create, got {other:?}"),
            ));
        }
    };
    let ticket_type = src.u64("HALO_DEFAULT_TICKETTYPE_ID")?;
    let default_client = src.u64("HALO_DEFAULT_CLIENT_ID")?;
    let client_map = match src.get("HALO_CLIENT_MAP") {
        Some(v) => parse_number_map("HALO_CLIENT_MAP", v)?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let priority_map = parse_priority_map(
        "HALO_PRIORITY_MAP",
        src.get("HALO_PRIORITY_MAP")
            .unwrap_or("High=1,Medium=2,Low=3,Informational=3"),
    )?;
    let title_template = TitleTemplate::parse(
        src.get("HALO_TITLE_TEMPLATE")
            .unwrap_or("[CF #{incidentNumber}] {title}"),
    );
    let team = src.get("HALO_TEAM").map(str::to_string);
    let category = src.get("HALO_CATEGORY").map(str::to_string);
    let note_outcome = parse_note_outcome(
        src.get("HALO_PRIVATE_NOTE_OUTCOME")
            .unwrap_or("Private Note"),
    );
    let external_ref_field_id = src.u64("HALO_EXTERNAL_REF_FIELD_ID")?;

    let mut missing = Vec::new();
    if !src.secret_available("CF_WEBHOOK_SECRET") {
        missing.push("CF_WEBHOOK_SECRET".to_string());
    }
    missing.extend(missing_halo(src));
    debug_assert!(
        halo.is_some() || !missing.is_empty(),
        "a missing connection is named"
    );
    if ticket_type.is_none() {
        missing.push("HALO_DEFAULT_TICKETTYPE_ID".to_string());
    }
    if default_client.is_none() {
        missing.push("HALO_DEFAULT_CLIENT_ID".to_string());
    }
    let (Some(ticket_type_id), Some(default_client_id), true) =
        (ticket_type, default_client, missing.is_empty())
    else {
        return Ok(Err(missing));
    };
    Ok(Ok(CfToHaloSettings {
        max_skew_seconds,
        test_events,
        mapping: MappingSettings {
            ticket_type_id,
            default_client_id,
            client_map,
            priority_map,
            title_template,
            team,
            category,
            external_ref_field_id,
        },
        note_outcome,
    }))
}

fn parse_note_outcome(value: &str) -> NoteOutcome {
    match value.parse::<u64>() {
        Ok(id) => NoteOutcome::Id(id),
        Err(_) => NoteOutcome::Name(value.to_string()),
    }
}

fn parse_halo_to_cf(
    src: &mut Source,
    halo: Option<&HaloConnection>,
) -> Result<Readiness<HaloToCfSettings>, SettingsError> {
    let signature_header = src
        .get("HALO_WEBHOOK_SIGNATURE_HEADER")
        .unwrap_or("x-signature")
        .to_ascii_lowercase();
    if actix_web::http::header::HeaderName::from_bytes(signature_header.as_bytes()).is_err() {
        return Err(SettingsError::new(
            "HALO_WEBHOOK_SIGNATURE_HEADER",
            "not a valid HTTP header name",
        ));
    }
    let cf_api_base_url = src.url("CF_API_BASE_URL")?;
    let cf_client_id = src.get("CF_SERVICE_ACCOUNT_CLIENT_ID").map(str::to_string);
    let cf_workspace_id = src.get("CF_WORKSPACE_ID").map(str::to_string);
    let closed = src
        .get("HALO_CLOSED_STATUS_ID")
        .map(|v| parse_id_list("HALO_CLOSED_STATUS_ID", v))
        .transpose()?;
    let integration_agent_id = src.u64("HALO_INTEGRATION_AGENT_ID")?;
    let external_ref_field_id = src.u64("HALO_EXTERNAL_REF_FIELD_ID")?;
    let close_classification = src
        .get("CF_CLOSE_CLASSIFICATION")
        .unwrap_or("Undetermined")
        .to_string();
    let close_classification_reason = src
        .get("CF_CLOSE_CLASSIFICATION_REASON")
        .unwrap_or("InaccurateData")
        .to_string();

    let mut missing = Vec::new();
    if !src.secret_available("HALO_WEBHOOK_SECRET")
        && !src.secret_available("HALO_WEBHOOK_SIGNING_SECRET")
    {
        missing.push("HALO_WEBHOOK_SECRET".to_string());
    }
    missing.extend(missing_halo(src));
    debug_assert!(
        halo.is_some() || !missing.is_empty(),
        "a missing connection is named"
    );
    let cf_secret = src.secret_available("CF_SERVICE_ACCOUNT_CLIENT_SECRET");
    for (name, present) in [
        ("CF_API_BASE_URL", cf_api_base_url.is_some()),
        ("CF_SERVICE_ACCOUNT_CLIENT_ID", cf_client_id.is_some()),
        ("CF_SERVICE_ACCOUNT_CLIENT_SECRET", cf_secret),
        ("CF_WORKSPACE_ID", cf_workspace_id.is_some()),
        ("HALO_CLOSED_STATUS_ID", closed.is_some()),
    ] {
        if !present {
            missing.push(name.to_string());
        }
    }
    let (Some(cf_api_base_url), Some(cf_client_id), Some(cf_workspace_id), Some(closed), true) = (
        cf_api_base_url,
        cf_client_id,
        cf_workspace_id,
        closed,
        missing.is_empty(),
    ) else {
        return Ok(Err(missing));
    };
    Ok(Ok(HaloToCfSettings {
        signature_header,
        cf_api_base_url,
        cf_client_id,
        cf_workspace_id,
        closed_status_ids: closed,
        integration_agent_id,
        external_ref_field_id,
        close_classification,
        close_classification_reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CF_WEBHOOK_SECRET", "s"),
            ("HALO_AUTH_URL", "https://x.halopsa.com/auth/"),
            ("HALO_API_BASE_URL", "https://x.halopsa.com/api"),
            ("HALO_CLIENT_ID", "id"),
            ("HALO_CLIENT_SECRET", "secret"),
            ("HALO_DEFAULT_TICKETTYPE_ID", "25"),
            ("HALO_DEFAULT_CLIENT_ID", "1"),
            ("HALO_WEBHOOK_SECRET", "h"),
            (
                "CF_API_BASE_URL",
                "https://prod.platform.contraforce.com/api/v2",
            ),
            ("CF_SERVICE_ACCOUNT_CLIENT_ID", "cid"),
            ("CF_SERVICE_ACCOUNT_CLIENT_SECRET", "csecret"),
            ("CF_WORKSPACE_ID", "ws"),
            ("HALO_CLOSED_STATUS_ID", "9, 10"),
        ]
    }

    #[test]
    fn an_empty_environment_leaves_both_functions_unconfigured_with_defaults() {
        let s = Settings::from_vars(&HashMap::new()).unwrap();
        assert_eq!(s.port, 3000);
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert_eq!(s.request_deadline, Duration::from_secs(20));
        assert_eq!(
            s.halo_rate_limit,
            RateLimit {
                calls: 300,
                per: Duration::from_secs(300)
            }
        );
        let missing = s.cf_to_halo.unwrap_err();
        assert_eq!(missing[0], "CF_WEBHOOK_SECRET");
        assert!(missing.contains(&"HALO_DEFAULT_CLIENT_ID".to_string()));
        assert!(
            s.halo_to_cf
                .unwrap_err()
                .contains(&"HALO_CLOSED_STATUS_ID".to_string())
        );
    }

    #[test]
    fn a_full_environment_configures_both_functions() {
        let s = Settings::from_vars(&vars(&full())).unwrap();
        let halo = s.halo.unwrap();
        assert_eq!(halo.auth_url, "https://x.halopsa.com/auth");
        let cf = s.cf_to_halo.unwrap();
        assert_eq!(cf.mapping.priority_for("HIGH"), 1);
        assert_eq!(cf.mapping.priority_for("weird"), 3);
        assert_eq!(cf.note_outcome, NoteOutcome::Name("Private Note".into()));
        assert_eq!(s.halo_to_cf.unwrap().closed_status_ids, vec![9, 10]);
    }

    #[test]
    fn unresolved_key_vault_references_count_as_missing_and_are_reported() {
        let mut v = vars(&full());
        v.insert(
            "CF_WEBHOOK_SECRET".into(),
            "@Microsoft.KeyVault(SecretUri=https://v/secrets/x)".into(),
        );
        let s = Settings::from_vars(&v).unwrap();
        assert_eq!(
            s.cf_to_halo.unwrap_err(),
            vec!["CF_WEBHOOK_SECRET".to_string()]
        );
        assert!(s.halo_to_cf.is_ok(), "the other function keeps working");
        assert_eq!(
            s.unresolved_key_vault_refs,
            vec!["CF_WEBHOOK_SECRET".to_string()]
        );
    }

    #[test]
    fn malformed_values_name_the_setting() {
        for (name, value, needle) in [
            ("HALO_DEFAULT_CLIENT_ID", "abc", "whole number"),
            ("HALO_PRIORITY_MAP", "High=1,Medium", "key=id"),
            ("HALO_PRIORITY_MAP", "High=1", "Low entry"),
            ("HALO_CLIENT_MAP", "acc=x", "whole number"),
            ("HALO_CLOSED_STATUS_ID", "9,x", "whole number"),
            ("HALO_RATE_LIMIT", "300", "calls/seconds"),
            ("HALO_API_BASE_URL", "halo.example.com", "URL"),
            ("STATE_STORE", "redis", "memory or blob"),
            ("LOG_FORMAT", "xml", "text or json"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "70000", "port"),
            ("CF_TEST_EVENTS", "maybe", "ack or create"),
        ] {
            let mut v = vars(&full());
            v.insert(name.into(), value.into());
            let err = Settings::from_vars(&v).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn a_blob_store_without_an_endpoint_is_refused_and_with_one_accepted() {
        let mut v = vars(&full());
        v.insert("STATE_STORE".into(), "blob".into());
        let err = Settings::from_vars(&v).unwrap_err();
        assert_eq!(err.name, "STATE_STORE");
        assert!(err.problem.contains("STATE_BLOB_URL"), "{err}");
        v.insert("AzureWebJobsStorage__accountName".into(), "acct".into());
        assert_eq!(Settings::from_vars(&v).unwrap().state.kind, StateKind::Blob);
    }

    #[test]
    fn numeric_note_outcome_is_an_id() {
        let mut v = vars(&full());
        v.insert("HALO_PRIVATE_NOTE_OUTCOME".into(), "7".into());
        let s = Settings::from_vars(&v).unwrap();
        assert_eq!(s.cf_to_halo.unwrap().note_outcome, NoteOutcome::Id(7));
    }

    #[test]
    fn signing_secret_alone_configures_halo_to_cf() {
        let mut v = vars(&full());
        v.remove("HALO_WEBHOOK_SECRET");
        v.insert("HALO_WEBHOOK_SIGNING_SECRET".into(), "sign".into());
        v.insert("HALO_WEBHOOK_SECRET_PREVIOUS".into(), "old".into());
        let s = Settings::from_vars(&v).unwrap();
        assert!(s.halo_to_cf.is_ok());
        assert!(s.secret_env.contains_key("HALO_WEBHOOK_SIGNING_SECRET"));
        assert!(!s.secret_env.contains_key("HALO_WEBHOOK_SECRET"));
    }

    #[test]
    fn with_key_vault_absent_secrets_are_left_to_request_time() {
        let mut v = vars(&full());
        for name in crate::secrets::SECRET_SETTINGS {
            v.remove(name);
        }
        assert!(Settings::from_vars(&v).unwrap().cf_to_halo.is_err());
        v.insert(
            "KEY_VAULT_URI".into(),
            "https://kv-bridge.vault.azure.net/".into(),
        );
        v.insert("CF_WEBHOOK_SECRET".into(), "from-env".into());
        let s = Settings::from_vars(&v).unwrap();
        assert!(s.cf_to_halo.is_ok() && s.halo_to_cf.is_ok());
        assert_eq!(
            s.key_vault.unwrap().uri,
            "https://kv-bridge.vault.azure.net"
        );
        assert_eq!(
            s.secret_env.keys().collect::<Vec<_>>(),
            vec![&"CF_WEBHOOK_SECRET"]
        );
        v.insert("KEY_VAULT_URI".into(), "http://kv".into());
        assert_eq!(Settings::from_vars(&v).unwrap_err().name, "KEY_VAULT_URI");
    }
}
