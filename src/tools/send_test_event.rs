//! `send-test-event`: signs and posts a ContraForce-style event the way the portal does, so a
//! deployment can be tried without waiting for a real incident.
//!
//! Headers: `X-CF-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}." ‖ body)>`,
//! `X-CF-Timestamp` (Unix seconds, now), `X-CF-Event-Id`, `X-CF-Schema` (the body's `type`),
//! `X-CF-Test: true` with `--test-flag`, `Content-Type: application/json`. The body is sent
//! byte for byte as read (the signature covers exactly those bytes).

use std::path::PathBuf;
use std::process::ExitCode;

use reqwest::Url;
use serde_json::Value;

use super::{EXIT_USAGE, error_chain, fail, http_client};
use crate::clock::{Clock, SystemClock};
use crate::contraforce::webhook::sign;

const COMMAND: &str = "send-test-event";
/// The event sent when no `--file` is given.
pub const DEFAULT_EVENT: &str = include_str!("../../tests/data/cf-incident-created.json");
/// `X-CF-Schema` when the body has no string `type`.
const DEFAULT_SCHEMA: &str = "incident.created.v1";

/// Arguments of `send-test-event`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The CfToHalo URL, e.g. https://<app>.azurewebsites.net/api/CfToHalo?code=<function key>
    /// (a URL without a path gets /api/CfToHalo).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// ContraForce signing secret (default: $CF_WEBHOOK_SECRET).
    #[arg(long, env = "CF_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Mark the delivery as a portal test (X-CF-Test: true): the bridge creates nothing.
    #[arg(long)]
    pub test_flag: bool,
    /// Send this file's bytes as the body (default: a built-in incident.created.v1 event).
    #[arg(long, value_name = "event.json")]
    pub file: Option<PathBuf>,
    /// X-CF-Event-Id (default: a new test-<uuid>); send the same id twice to see a duplicate.
    #[arg(long, value_name = "ID")]
    pub event_id: Option<String>,
    /// Function key sent as x-functions-key (instead of ?code= in the URL).
    #[arg(
        long,
        value_name = "KEY",
        env = "CF_FUNCTION_KEY",
        hide_env_values = true
    )]
    pub function_key: Option<String>,
}

/// The target URL: http(s) only; an empty path becomes `/api/CfToHalo`.
pub fn target_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("--url {raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--url {raw:?} is not an http(s) URL"));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/api/CfToHalo");
    }
    Ok(url)
}

/// The URL with any `code` (a function key) replaced by `***`, for printing.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if url.query_pairs().any(|(k, _)| k == "code") {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "code" {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string().replace("%2A%2A%2A", "***")
}

/// `X-CF-Schema`: the body's `type`, else `incident.created.v1`.
pub fn schema_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_string())
}

/// Runs `send-test-event`.
pub async fn run(args: Args) -> ExitCode {
    let url = match target_url(&args.url) {
        Ok(u) => u,
        Err(e) => return fail(COMMAND, EXIT_USAGE, e),
    };
    let Some(secret) = args.secret.filter(|s| !s.is_empty()) else {
        return fail(
            COMMAND,
            EXIT_USAGE,
            "no signing secret: pass --secret or set CF_WEBHOOK_SECRET",
        );
    };
    let body: Vec<u8> = match &args.file {
        Some(path) => match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                return fail(
                    COMMAND,
                    EXIT_USAGE,
                    format!("cannot read {}: {e}", path.display()),
                );
            }
        },
        None => DEFAULT_EVENT.as_bytes().to_vec(),
    };
    let event_id = args
        .event_id
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("test-{}", uuid::Uuid::new_v4()));
    let timestamp = SystemClock.now_unix().to_string();
    let schema = schema_of(&body);

    let mut request = http_client()
        .post(url.clone())
        .header("X-CF-Signature", sign(&secret, &timestamp, &body))
        .header("X-CF-Timestamp", &timestamp)
        .header("X-CF-Event-Id", &event_id)
        .header("X-CF-Schema", &schema)
        .header("Content-Type", "application/json");
    if args.test_flag {
        request = request.header("X-CF-Test", "true");
    }
    if let Some(key) = args.function_key.filter(|k| !k.is_empty()) {
        request = request.header("x-functions-key", key);
    }
    println!(
        "POST {} (event {event_id}, schema {schema}, {} bytes{})",
        redacted(&url),
        body.len(),
        if args.test_flag {
            ", X-CF-Test: true"
        } else {
            ""
        }
    );
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return fail(
                COMMAND,
                1,
                format!(
                    "no answer from {}: {}",
                    redacted(&url),
                    error_chain(&e.without_url())
                ),
            );
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("HTTP {status}");
    let shown = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    if !shown.is_empty() {
        println!("{shown}");
    }
    if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_path_get_the_function_path_and_keys_are_hidden() {
        let u = target_url("http://127.0.0.1:7071").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:7071/api/CfToHalo");
        let u =
            target_url("https://app.azurewebsites.net/api/CfToHalo?code=abc%3D%3D&x=1").unwrap();
        assert_eq!(u.path(), "/api/CfToHalo");
        let shown = redacted(&u);
        assert!(!shown.contains("abc"), "{shown}");
        assert!(
            shown.contains("code=***") && shown.contains("x=1"),
            "{shown}"
        );
        assert!(target_url("ftp://x").is_err());
        assert!(target_url("not a url").is_err());
    }

    #[test]
    fn the_schema_comes_from_the_body() {
        assert_eq!(schema_of(DEFAULT_EVENT.as_bytes()), "incident.created.v1");
        assert_eq!(
            schema_of(br#"{"type":"incident.updated.v1"}"#),
            "incident.updated.v1"
        );
        assert_eq!(schema_of(b"not json"), DEFAULT_SCHEMA);
    }
}
