//! Process-wide settings (port, body cap, deadline, Halo rate limit, log format) and the
//! Halo connection both functions share.

use std::time::Duration;

use super::SettingsError;
use super::parse::{parse_port, parse_rate_limit};
use super::source::Source;

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
    /// Store the reference in this custom field instead of `third_party_id_string`.
    pub external_ref_field_id: Option<u64>,
    /// Most pages (of 100 tickets) one date-window lookup reads (CONTRACT §11.2).
    pub lookup_max_pages: u32,
    /// `HALO_BATCH_MAX`: most tickets (or notes) one Halo call creates (CONTRACT §12).
    pub batch_max: usize,
    /// `HALO_CALL_SAVINGS` (not in the contract; for the benchmark's comparison): a webhook about
    /// a ticket that shows it is not CF-linked costs no call, and the sweep skips the unchanged.
    pub call_savings: bool,
}

/// The process-wide values, copied into [`super::Settings`].
pub(super) struct Common {
    pub(super) port: u16,
    pub(super) max_body_bytes: usize,
    pub(super) request_deadline: Duration,
    pub(super) halo_rate_limit: RateLimit,
    pub(super) log_format: LogFormat,
}

/// Reads the process-wide values, with their defaults.
pub(super) fn parse(src: &mut Source) -> Result<Common, SettingsError> {
    let port = match src.get("FUNCTIONS_CUSTOMHANDLER_PORT") {
        Some(v) => parse_port("FUNCTIONS_CUSTOMHANDLER_PORT", v)?,
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
    let log_format = src.choice(
        "LOG_FORMAT",
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
    )?;
    Ok(Common {
        port,
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        request_deadline: Duration::from_secs(deadline),
        halo_rate_limit,
        log_format,
    })
}

/// The Halo connection, when its URLs and client id are all set.
pub(super) fn parse_halo_connection(
    src: &mut Source,
) -> Result<Option<HaloConnection>, SettingsError> {
    let auth_url = src.url("HALO_AUTH_URL")?;
    let api_base_url = src.url("HALO_API_BASE_URL")?;
    let client_id = src.get("HALO_CLIENT_ID").map(str::to_string);
    let tenant = src.get("HALO_TENANT").map(str::to_string);
    let scope = src.get("HALO_SCOPE").unwrap_or("all").to_string();
    let external_ref_field_id = src.u64("HALO_EXTERNAL_REF_FIELD_ID")?;
    let lookup_max_pages = src.u64_or("HALO_LOOKUP_MAX_PAGES", 10)?;
    if !(1..=1000).contains(&lookup_max_pages) {
        return Err(SettingsError::new(
            "HALO_LOOKUP_MAX_PAGES",
            "must be 1–1000 (each page is one Halo call of 100 tickets)",
        ));
    }
    let batch_max = src.u64_or("HALO_BATCH_MAX", 20)?;
    if !(1..=100).contains(&batch_max) {
        return Err(SettingsError::new(
            "HALO_BATCH_MAX",
            "must be 1–100 (1 sends one ticket or note per call)",
        ));
    }
    let call_savings = src.choice("HALO_CALL_SAVINGS", &[("on", true), ("off", false)])?;
    Ok(match (auth_url, api_base_url, client_id) {
        (Some(auth_url), Some(api_base_url), Some(client_id)) => Some(HaloConnection {
            auth_url,
            api_base_url,
            client_id,
            tenant,
            scope,
            external_ref_field_id,
            lookup_max_pages: lookup_max_pages as u32,
            batch_max: batch_max as usize,
            call_savings,
        }),
        _ => None,
    })
}

/// Names of the four Halo connection settings that cannot be had.
pub(super) fn missing_halo(src: &mut Source) -> Vec<String> {
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
