//! Closing a Halo ticket from the ContraForce side (an agent's verdict, a close in ContraForce),
//! recorded as mirrored first, so the webhook Halo then sends is never echoed back (CONTRACT
//! §10.1–§10.2). The caller holds the ticket's claim, which HaloToCf also takes.

use serde_json::json;

use crate::error::ApiError;
use crate::halo::client::HaloClient;
use crate::http::Deadline;
use crate::state::StateStore;

/// Closes the ticket with `status_id` unless its current closing is already mirrored; true
/// when this call closed it.
pub async fn close_ticket(
    halo: &HaloClient,
    store: &dyn StateStore,
    ticket_id: u64,
    status_id: u64,
    deadline: Deadline,
) -> Result<bool, ApiError> {
    let mut sync = store.ticket_sync(ticket_id).await?;
    if sync.close_mirrored {
        return Ok(false);
    }
    sync.close_mirrored = true;
    store.set_ticket_sync(ticket_id, sync).await?;
    let closed = halo
        .update_ticket(ticket_id, json!({ "status_id": status_id }), deadline)
        .await;
    if let Err(e) = closed {
        // Not closed after all: a later close in Halo must still reach ContraForce.
        sync.close_mirrored = false;
        if let Err(revert) = store.set_ticket_sync(ticket_id, sync).await {
            tracing::warn!(ticket_id, error = %revert, "close state not reverted; the next delivery corrects it");
        }
        return Err(e.into());
    }
    tracing::info!(ticket_id, status_id, "halo ticket closed from contraforce");
    Ok(true)
}
