//! The state store check: the blob container is reachable and readable.

use std::time::Instant;

use super::{CHECK_DEADLINE, CheckFuture, Ctx, fail, in_azure, pass, skip};
use crate::settings::StateKind;
use crate::startup::blob_location;
use crate::state::StateStore as _;
use crate::state::blob::{BlobLocation, BlobStore};

/// `memory` needs nothing. `blob` goes through the handler's own [`BlobStore`]: it creates the
/// container if absent (as the handler does on first use) and reads one ledger entry, which
/// proves the endpoint, the credentials (SAS or managed identity) and the permissions. The
/// managed identity exists only inside Azure, so outside it (no `IDENTITY_ENDPOINT`) the check
/// is skipped.
pub(super) fn state_store(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let state = &ctx.settings.state;
        if state.kind == StateKind::Memory {
            return skip("STATE_STORE=memory: in process, nothing to reach");
        }
        let location = blob_location(state);
        let shown = match &location {
            BlobLocation::SasUrl(url) => url.split('?').next().unwrap_or_default().to_string(),
            BlobLocation::ManagedIdentity { container_url, .. } => {
                if !in_azure() {
                    return skip(format!(
                        "STATE_STORE=blob at {container_url} through the managed identity: only available inside Azure"
                    ));
                }
                container_url.clone()
            }
        };
        let store = match BlobStore::new(&location, state.ledger_ttl) {
            Ok(store) => store,
            Err(e) => return fail(format!("{shown}: {e}")),
        };
        let started = Instant::now();
        match tokio::time::timeout(CHECK_DEADLINE, store.processed_event("check-config-probe"))
            .await
        {
            Ok(Ok(_)) => pass(format!(
                "{shown}: container ready, ledger read in {} ms",
                started.elapsed().as_millis()
            )),
            Ok(Err(e)) => fail(format!("{shown}: {e}")),
            Err(_) => fail(format!(
                "{shown}: no answer within {} s",
                CHECK_DEADLINE.as_secs()
            )),
        }
    })
}
