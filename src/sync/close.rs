//! Closing a Halo ticket from the ContraForce side (an agent's verdict, a close in ContraForce),
//! in two phases so it is done exactly once and never echoed, whatever instant the process dies
//! at (CONTRACT §10.1–§10.2, §13): the intent (`closing`) is recorded before the call, so the
//! close Halo then reports is recognised as ours; the confirmation after it. A close whose
//! outcome is unknown keeps its intent, and the next attempt simply closes again. The caller
//! holds the ticket's claim, which HaloToCf also takes.

use serde_json::json;

use crate::error::ApiError;
use crate::halo::client::HaloClient;
use crate::http::{Deadline, UpstreamError};
use crate::state::StateStore;

/// Closes the ticket with `status_id` unless its current closing is already done and mirrored;
/// true when this call closed it.
pub async fn close_ticket(
    halo: &HaloClient,
    store: &dyn StateStore,
    ticket_id: u64,
    status_id: u64,
    deadline: Deadline,
) -> Result<bool, ApiError> {
    let mut sync = store.ticket_sync(ticket_id).await?;
    if sync.close_mirrored && !sync.closing {
        return Ok(false);
    }
    if !sync.closing {
        sync.closing = true;
        store.set_ticket_sync(ticket_id, sync).await?;
    }
    let closed = halo
        .update_ticket(ticket_id, json!({ "status_id": status_id }), deadline)
        .await;
    match closed {
        Ok(()) => {
            sync.closing = false;
            sync.close_mirrored = true;
            store.set_ticket_sync(ticket_id, sync).await?;
            tracing::info!(ticket_id, status_id, "halo ticket closed from contraforce");
            Ok(true)
        }
        // Certainly not applied: a later close made in Halo must still reach ContraForce.
        Err(
            e @ (UpstreamError::Rejected { .. }
            | UpstreamError::NotFound { .. }
            | UpstreamError::Unavailable {
                not_processed: true,
                ..
            }),
        ) => {
            sync.closing = false;
            if let Err(revert) = store.set_ticket_sync(ticket_id, sync).await {
                tracing::warn!(ticket_id, error = %revert, "close intent not cleared; the next delivery corrects it");
            }
            Err(e.into())
        }
        // Perhaps applied: the intent stays, so Halo's report of it is not echoed, and the next
        // attempt closes again (setting the same status twice leaves the same ticket).
        Err(e) => Err(e.into()),
    }
}
