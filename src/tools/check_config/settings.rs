//! The settings checks: every value parses, and whether each function is configured.

use super::{CheckFuture, Ctx, Outcome, fail, pass, skip};
use crate::settings::StateKind;

/// Every setting parses and no Key Vault reference was left unresolved.
pub(super) fn settings_valid(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let s = &ctx.settings;
        if !s.unresolved_key_vault_refs.is_empty() {
            return fail(format!(
                "unresolved Key Vault reference in {} (the platform could not read the secret)",
                s.unresolved_key_vault_refs.join(", ")
            ));
        }
        let limit = s.halo_rate_limit;
        pass(format!(
            "every value parses (STATE_STORE {}, HALO_RATE_LIMIT {}/{} s, REQUEST_DEADLINE_SECONDS {})",
            match s.state.kind {
                StateKind::Memory => "memory",
                StateKind::Blob => "blob",
            },
            limit.calls,
            limit.per.as_secs(),
            s.request_deadline.as_secs()
        ))
    })
}

/// A function's readiness: configured (noting the secrets expected from Key Vault), or what
/// is missing.
fn readiness<T>(ctx: &Ctx, r: &Result<T, Vec<String>>, secrets: &[&str]) -> Outcome {
    match r {
        Ok(_) => {
            let from_vault: Vec<&str> = secrets
                .iter()
                .copied()
                .filter(|n| !ctx.settings.secret_env.contains_key(n))
                .collect();
            if ctx.settings.key_vault.is_some() && !from_vault.is_empty() {
                pass(format!(
                    "configured; {} expected from Key Vault (see the Key Vault line)",
                    from_vault.join(", ")
                ))
            } else {
                pass("configured")
            }
        }
        Err(missing) => skip(format!(
            "not configured (answers 503): missing {}",
            missing.join(", ")
        )),
    }
}

/// Whether CfToHalo has every setting it needs.
pub(super) fn cf_to_halo_settings(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        readiness(
            ctx,
            &ctx.settings.cf_to_halo,
            &["CF_WEBHOOK_SECRET", "HALO_CLIENT_SECRET"],
        )
    })
}

/// Whether HaloToCf has every setting it needs.
pub(super) fn halo_to_cf_settings(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        // A signing secret in the environment stands in for the shared one.
        let webhook = if ctx
            .settings
            .secret_env
            .contains_key("HALO_WEBHOOK_SIGNING_SECRET")
        {
            "HALO_WEBHOOK_SIGNING_SECRET"
        } else {
            "HALO_WEBHOOK_SECRET"
        };
        let needs = [
            webhook,
            "HALO_CLIENT_SECRET",
            "CF_SERVICE_ACCOUNT_CLIENT_SECRET",
        ];
        readiness(ctx, &ctx.settings.halo_to_cf, &needs)
    })
}
