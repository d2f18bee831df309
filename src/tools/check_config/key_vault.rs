//! The Key Vault check: through the managed identity inside Azure, anonymously outside it.

use reqwest::Url;

use super::{CHECK_DEADLINE, CheckFuture, Ctx, Outcome, fail, in_azure, pass, skip};
use crate::secrets::vault::KeyVaultSource;
use crate::secrets::{SECRET_SETTINGS, SecretSource as _, vault_name};
use crate::tools::error_chain;

/// `KEY_VAULT_URI`, when set.
fn key_vault_uri() -> Option<String> {
    std::env::var("KEY_VAULT_URI")
        .ok()
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .filter(|v| !v.is_empty())
}

/// With `KEY_VAULT_URI` set. Inside Azure: reads every secret setting's vault secret
/// (`cf-webhook-secret`, …) through the managed identity, as the handler does, and lists which
/// exist (never their values). Outside Azure there is no managed identity, so an anonymous
/// `GET {vault}/secrets` must reach the vault and be answered 401: DNS, network and the vault
/// are proven, the identity's access is not.
pub(super) fn key_vault(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(uri) = key_vault_uri() else {
            return skip("not configured (KEY_VAULT_URI is not set)");
        };
        let url = match Url::parse(&format!("{uri}/secrets?api-version=7.4")) {
            Ok(u) if u.scheme() == "https" => u,
            _ => return fail(format!("KEY_VAULT_URI {uri:?} is not an https URL")),
        };
        if in_azure() {
            return key_vault_through_identity(&uri).await;
        }
        match ctx.http.get(url).timeout(CHECK_DEADLINE).send().await {
            Ok(r) if r.status() == 401 => pass(format!(
                "{uri} reachable (401 to an anonymous request, as expected; the managed identity exists only in Azure)"
            )),
            Ok(r) => fail(format!(
                "{uri} answered {} to an anonymous request (expected 401)",
                r.status().as_u16()
            )),
            Err(e) => fail(format!(
                "{uri}: unreachable ({})",
                error_chain(&e.without_url())
            )),
        }
    })
}

async fn key_vault_through_identity(uri: &str) -> Outcome {
    let source = match KeyVaultSource::new(uri, None, None) {
        Ok(s) => s,
        Err(e) => return fail(format!("{uri}: {e}")),
    };
    let (mut present, mut absent) = (Vec::new(), Vec::new());
    for setting in SECRET_SETTINGS {
        let name = vault_name(setting);
        match tokio::time::timeout(CHECK_DEADLINE, source.fetch(&name)).await {
            Ok(Ok(Some(_))) => present.push(name),
            Ok(Ok(None)) => absent.push(name),
            Ok(Err(e)) => return fail(format!("{uri}: {e}")),
            Err(_) => return fail(format!("{uri}: no answer for {name}")),
        }
    }
    pass(format!(
        "read through the managed identity; present: {}; absent: {}",
        if present.is_empty() {
            "none".into()
        } else {
            present.join(", ")
        },
        if absent.is_empty() {
            "none".into()
        } else {
            absent.join(", ")
        }
    ))
}
