//! The ContraForce checks: the v2 API is reachable and the service account is not refused in
//! any configured workspace; which workspace each mapped account's incidents go to.

use std::time::Instant;

use base64::Engine as _;
use secrecy::ExposeSecret as _;

use super::{CHECK_DEADLINE, CheckFuture, Ctx, fail, pass, skip};
use crate::contraforce::client::encode_segment;
use crate::http::error_detail;
use crate::settings::ContraForceApi;
use crate::tools::error_chain;

/// Every workspace the settings name: `CF_WORKSPACE_ID` first, then the map's, each once.
fn workspaces(cf: &ContraForceApi) -> Vec<&str> {
    let mut all: Vec<&str> = cf.default_workspace.iter().map(String::as_str).collect();
    for ws in cf.workspace_map.values() {
        if !all.contains(&ws.as_str()) {
            all.push(ws);
        }
    }
    all
}

/// ContraForce documents no read endpoint for the v2 workspace API, so the probe is
/// `GET {CF_API_BASE_URL}/workspaces/{ws}` with the service account, for each workspace: any
/// answer proves the API is reachable; 401/403 mean the credentials were refused there (fail,
/// with the problem document's `code: detail`); 2xx or 404 mean they were not (pass: the probe
/// cannot tell more without a write).
pub(super) fn contraforce_api(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(s) = &ctx.settings.halo_to_cf else {
            return skip("HaloToCf is not configured");
        };
        let Some(secret) = ctx.secrets.value("CF_SERVICE_ACCOUNT_CLIENT_SECRET") else {
            return fail(
                "CF_SERVICE_ACCOUNT_CLIENT_SECRET is in neither the environment nor Key Vault",
            );
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            s.cf.client_id,
            secret.expose_secret()
        ));
        let started = Instant::now();
        let mut probed = Vec::new();
        for ws in workspaces(&s.cf) {
            let url = format!("{}/workspaces/{}", s.cf.base_url, encode_segment(ws));
            let response = ctx
                .http
                .get(&url)
                .header("Authorization", format!("Basic {basic}"))
                .timeout(CHECK_DEADLINE)
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    return fail(format!(
                        "GET {url}: unreachable ({})",
                        error_chain(&e.without_url())
                    ));
                }
            };
            let code = response.status().as_u16();
            match code {
                200..=299 | 404 => probed.push(format!("{ws} ({code})")),
                _ => {
                    let detail = error_detail(&response.text().await.unwrap_or_default());
                    let why = match code {
                        401 | 403 => {
                            " (the service account CF_SERVICE_ACCOUNT_CLIENT_ID/SECRET was refused)"
                        }
                        _ => "",
                    };
                    return fail(format!("GET {url} answered {code}: {detail}{why}"));
                }
            }
        }
        let ms = started.elapsed().as_millis();
        pass(format!(
            "{}: reachable, service account not refused in workspace {} ({ms} ms)",
            s.cf.base_url,
            probed.join(", ")
        ))
    })
}

/// Which workspace each mapped account goes to, and where the others go (CONTRACT §8.6).
pub(super) fn contraforce_workspaces(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(s) = &ctx.settings.halo_to_cf else {
            return skip("HaloToCf is not configured");
        };
        let others = match &s.cf.default_workspace {
            Some(ws) => format!("other accounts → {ws} (CF_WORKSPACE_ID)"),
            None => "other accounts are ignored (no CF_WORKSPACE_ID)".to_string(),
        };
        if s.cf.workspace_map.is_empty() {
            return pass(format!("no CF_WORKSPACE_MAP; {others}"));
        }
        let mapped: Vec<String> =
            s.cf.workspace_map
                .iter()
                .map(|(account, ws)| format!("{account} → {ws}"))
                .collect();
        pass(format!(
            "{} mapped account(s): {}; {others}",
            mapped.len(),
            mapped.join(", ")
        ))
    })
}
