//! Posts whose outcome may be unknown (CONTRACT §13): Halo notes and ContraForce comments are not
//! idempotent, and a timeout or a 5xx may come after the upstream applied the post. The caller
//! records such a post as in doubt; the next attempt lists what is there and posts only what is
//! not.

use crate::halo::client::HaloClient;
use crate::http::{Deadline, UpstreamError};
use crate::sync::html_text::html_to_text;

/// Whether a failed post may have been applied: sent, then no answer that says it was not.
pub fn ambiguous(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Unavailable {
            not_processed: false,
            ..
        }
    )
}

/// Whether the ticket already has a note with this text (Halo may rewrite the HTML, so the plain
/// text is compared).
pub async fn halo_note_present(
    halo: &HaloClient,
    ticket_id: u64,
    note_html: &str,
    deadline: Deadline,
) -> Result<bool, UpstreamError> {
    let want = html_to_text(note_html);
    let actions = halo.list_actions(ticket_id, deadline).await?;
    Ok(actions.iter().any(|a| {
        let text = a
            .note_html
            .as_deref()
            .map(html_to_text)
            .filter(|t| !t.is_empty())
            .or_else(|| a.note.as_deref().map(|n| n.trim().to_string()));
        text.as_deref() == Some(want.as_str())
    }))
}
