//! Operator commands: `halo-lookup`, `send-test-event`, `check-config`, and the reconcile
//! commands `reconcile`, `status`, `replay`.
//!
//! They read the same settings as the handler, print for a person (or `--json` for a script),
//! and end with one clear line and a non-zero exit code when something is wrong. Exit codes:
//! 0 success, 1 a check or call failed, 2 the settings or arguments cannot be used.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::halo::client::HaloClient;
use crate::http::budget::Budget;
use crate::secrets::Secrets;
use crate::settings::Settings;

pub mod check_config;
pub mod halo_lookup;
pub mod send_test_event;
pub mod work;

/// Exit code when the settings or the arguments cannot be used.
pub const EXIT_USAGE: u8 = 2;

/// One line on stderr, then the exit code.
pub fn fail(command: &str, code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{command}: {message}");
    ExitCode::from(code)
}

/// An error and its causes on one line (`error sending request: connection refused`).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The outbound HTTP client of the tools: bounded connect and total times.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("cf-halo-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these options always builds")
}

/// A Halo client for the connection in `settings` (token cache, budget and retries as in the
/// handler), or the names of the missing connection settings.
pub fn halo_client(
    settings: &Settings,
    http: reqwest::Client,
    secrets: Arc<Secrets>,
) -> Result<HaloClient, String> {
    let Some(conn) = settings.halo.clone() else {
        let missing: Vec<&str> = [
            "HALO_AUTH_URL",
            "HALO_API_BASE_URL",
            "HALO_CLIENT_ID",
            "HALO_CLIENT_SECRET",
        ]
        .into_iter()
        .filter(|name| {
            // Empty, or an unresolved Key Vault reference, counts as missing.
            std::env::var(name).map_or(true, |v| v.trim().is_empty())
                || settings.unresolved_key_vault_refs.iter().any(|n| n == name)
        })
        .collect();
        let missing = missing.join(", ");
        return Err(format!(
            "the Halo connection is not configured: missing {missing}"
        ));
    };
    let budget = Arc::new(Budget::new(settings.halo_rate_limit));
    Ok(HaloClient::new(conn, http, budget, secrets))
}

/// The handler's secrets, read once now (Key Vault included, when configured): a tool runs
/// once, so it waits for them instead of refreshing in the background.
pub async fn load_secrets(settings: &Settings) -> Result<Arc<Secrets>, String> {
    let secrets = crate::startup::secrets(settings, None)?;
    match tokio::time::timeout(std::time::Duration::from_secs(15), secrets.refresh()).await {
        Ok(Ok(())) => Ok(secrets),
        Ok(Err(e)) => Err(format!("key vault: {e}")),
        Err(_) => Err("key vault did not answer within 15 s".into()),
    }
}

/// A plain-text table: a header row, a rule, and the rows, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let _ = write!(text, "  {cell}{}", " ".repeat(pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut rule.iter().map(String::as_str));
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let text = table(
            &["id", "name"],
            &[
                vec!["1".into(), "New".into()],
                vec!["28".into(), "On Hold".into()],
            ],
        );
        assert_eq!(
            text,
            "  id  name\n  --  -------\n  1   New\n  28  On Hold\n"
        );
    }
}
