//! The ContraForce check: the v2 API is reachable and the service account is not refused.

use std::time::Instant;

use base64::Engine as _;
use secrecy::ExposeSecret as _;

use super::{CHECK_DEADLINE, CheckFuture, Ctx, fail, pass, skip};
use crate::contraforce::client::encode_segment;
use crate::tools::error_chain;

/// ContraForce documents no read endpoint for the v2 workspace API, so the probe is
/// `GET {CF_API_BASE_URL}/workspaces/{CF_WORKSPACE_ID}` with the service account: any answer
/// proves the API is reachable; 401/403 mean the credentials were refused (fail); 2xx or 404
/// mean they were not (pass: the probe cannot tell more without a write).
pub(super) fn contraforce_api(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(s) = &ctx.settings.halo_to_cf else {
            return skip("HaloToCf is not configured");
        };
        let url = format!(
            "{}/workspaces/{}",
            s.cf_api_base_url,
            encode_segment(&s.cf_workspace_id)
        );
        let Some(secret) = ctx.secrets.value("CF_SERVICE_ACCOUNT_CLIENT_SECRET") else {
            return fail(
                "CF_SERVICE_ACCOUNT_CLIENT_SECRET is in neither the environment nor Key Vault",
            );
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            s.cf_client_id,
            secret.expose_secret()
        ));
        let started = Instant::now();
        let response = ctx
            .http
            .get(&url)
            .header("Authorization", format!("Basic {basic}"))
            .timeout(CHECK_DEADLINE)
            .send()
            .await;
        let ms = started.elapsed().as_millis();
        match response.map(|r| r.status().as_u16()) {
            Ok(code @ (200..=299 | 404)) => pass(format!(
                "GET {url} answered {code} in {ms} ms: reachable, service account not refused"
            )),
            Ok(code @ (401 | 403)) => fail(format!(
                "GET {url} answered {code}: the service account (CF_SERVICE_ACCOUNT_CLIENT_ID/SECRET) was refused"
            )),
            Ok(code) => fail(format!("GET {url} answered {code}")),
            Err(e) => fail(format!(
                "GET {url}: unreachable ({})",
                error_chain(&e.without_url())
            )),
        }
    })
}
