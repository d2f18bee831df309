//! Halo ticket change → ContraForce comments and close, each exactly once (CONTRACT §4.2–§4.3).

use std::sync::Arc;
use std::time::Duration;

use crate::contraforce::client::{Close, ContraForceClient, IncidentAt};
use crate::error::ApiError;
use crate::halo::client::HaloClient;
use crate::halo::model::{Action, Ticket};
use crate::halo::webhook::Delivery;
use crate::http::{Deadline, UpstreamError};
use crate::settings::HaloToCfSettings;
use crate::state::work::Work;
use crate::state::{StateStore, TicketSync};
use crate::sync::html_text::html_to_text;
use crate::sync::mapping::is_bridge_note;
use crate::sync::notes::ambiguous;

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaloOutcome {
    /// Nothing to do, with the reason.
    Ignored(&'static str),
    /// This delivery id was already answered.
    Duplicate,
    /// Comments posted and whether this delivery sent the close.
    Processed {
        /// Comments posted by this delivery.
        forwarded: usize,
        /// This delivery closed the incident.
        closed: bool,
    },
}

/// A ContraForce incident named by a Halo ticket's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRef {
    /// `data.source` of the incident.
    pub source: String,
    /// The incident id (may itself contain `|`).
    pub incident_id: String,
}

/// A linked ticket's incident and the workspace it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIncident {
    /// The incident.
    pub incident: IncidentRef,
    /// Its workspace (CONTRACT §8.6).
    pub workspace: String,
}

impl LinkedIncident {
    /// Where the ContraForce client finds it.
    pub fn at(&self) -> IncidentAt<'_> {
        IncidentAt {
            workspace: &self.workspace,
            source: &self.incident.source,
            incident_id: &self.incident.incident_id,
        }
    }
}

/// Parses `cf|source|incidentId`, splitting into at most three parts.
pub fn parse_reference(reference: &str) -> Option<IncidentRef> {
    let mut parts = reference.splitn(3, '|');
    let (Some("cf"), Some(source), Some(incident_id)) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if source.is_empty() || incident_id.is_empty() {
        return None;
    }
    Some(IncidentRef {
        source: source.to_string(),
        incident_id: incident_id.to_string(),
    })
}

/// The HaloToCf function's work, independent of HTTP.
pub struct HaloToCf {
    settings: HaloToCfSettings,
    halo: Arc<HaloClient>,
    cf: Arc<ContraForceClient>,
    store: Arc<dyn StateStore>,
    claim_hold: Duration,
    ledger_ttl: Duration,
}

impl HaloToCf {
    /// Wires the function to its clients and state store.
    pub fn new(
        settings: HaloToCfSettings,
        halo: Arc<HaloClient>,
        cf: Arc<ContraForceClient>,
        store: Arc<dyn StateStore>,
        request_deadline: Duration,
        ledger_ttl: Duration,
    ) -> Self {
        Self {
            settings,
            halo,
            cf,
            store,
            claim_hold: request_deadline,
            ledger_ttl,
        }
    }

    /// The unfinished-work records (pending tickets, watched tickets).
    pub fn work(&self) -> Work<'_> {
        Work::new(self.store.as_ref(), self.ledger_ttl)
    }

    /// The function's settings.
    pub fn settings(&self) -> &HaloToCfSettings {
        &self.settings
    }

    /// Handles one authenticated delivery (or a reconcile run's look at a ticket); the caller
    /// settles the result ([`HaloToCf::settle`]).
    pub async fn handle(
        &self,
        delivery: &Delivery,
        deadline: Deadline,
    ) -> Result<HaloOutcome, ApiError> {
        let Some(ticket_id) = delivery.ticket_id else {
            return Ok(HaloOutcome::Ignored("no ticket id in payload"));
        };
        if self.shows_unlinked(delivery) && self.store.link_for_ticket(ticket_id).await?.is_none() {
            tracing::debug!(
                ticket_id,
                "the payload shows a ticket that is not CF-linked: no call"
            );
            return Ok(HaloOutcome::Ignored("not a CF-linked ticket"));
        }
        let known = self.payload_ticket(delivery, ticket_id);
        self.handle_ticket(ticket_id, delivery, known, deadline)
            .await
    }

    /// A ticket a sweep listed, processed as a delivery would be; the listed row stands in for
    /// a read of the ticket when it is current enough ([`HaloToCf::current_enough`]).
    pub async fn handle_listed(
        &self,
        ticket: &Ticket,
        deadline: Deadline,
    ) -> Result<HaloOutcome, ApiError> {
        let delivery = Delivery {
            ticket_id: Some(ticket.id),
            ..Delivery::default()
        };
        let known = self.halo.call_savings().then(|| ticket.clone());
        self.handle_ticket(ticket.id, &delivery, known, deadline)
            .await
    }

    /// The payload's ticket, when it carries the reference field (a full ticket object).
    fn payload_ticket(&self, delivery: &Delivery, ticket_id: u64) -> Option<Ticket> {
        if !self.halo.call_savings() {
            return None;
        }
        let object = delivery.ticket.as_ref()?;
        if !self.carries_reference_field(object) {
            return None;
        }
        Ticket::from_json(object).filter(|t| t.id == ticket_id)
    }

    /// Whether a ticket Halo sent us (a webhook's, a listing's row) can stand in for reading it
    /// (CONTRACT §12): it is not older than what the bridge processed last, and it shows no close
    /// or re-open to act on. A ticket that shows one is read again, so a delivery that arrives
    /// late with an old state never mirrors a close or a re-open.
    fn current_enough(&self, ticket: &Ticket, sync: &TicketSync) -> bool {
        let (Some(last), Some(_)) = (ticket.last_action, ticket.status_id) else {
            return false;
        };
        let closed = self.shows_closed(ticket);
        sync.seen_action.is_none_or(|seen| last >= seen)
            && !sync.closing
            && closed == sync.close_mirrored
    }

    /// Whether the ticket is closed (a closed status, or Halo's flag).
    fn shows_closed(&self, ticket: &Ticket) -> bool {
        ticket.has_been_closed
            || ticket
                .status_id
                .is_some_and(|s| self.settings.closed_status_ids.contains(&s))
    }

    /// Whether the payload's `ticket` object carries the reference field and shows no CF
    /// reference in it: most of an MSP's tickets, answered without a Halo call (CONTRACT §12).
    /// A payload without the field (event information only) takes the usual path.
    fn shows_unlinked(&self, delivery: &Delivery) -> bool {
        if !self.halo.call_savings() {
            return false;
        }
        let Some(object) = &delivery.ticket else {
            return false;
        };
        let field = self.settings.external_ref_field_id;
        let reference =
            Ticket::from_json(object).and_then(|t| t.reference(field).map(str::to_owned));
        self.carries_reference_field(object)
            && reference.as_deref().and_then(parse_reference).is_none()
    }

    /// Whether a ticket object carries the field the reference is kept in (so a missing
    /// reference means "none", not "not sent").
    fn carries_reference_field(&self, object: &serde_json::Map<String, serde_json::Value>) -> bool {
        match self.settings.external_ref_field_id {
            Some(id) => object
                .get("customfields")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|fields| {
                    fields
                        .iter()
                        .any(|f| f.get("id").and_then(crate::halo::model::flex_id) == Some(id))
                }),
            None => object.contains_key("third_party_id_string"),
        }
    }

    /// After a delivery: a 503 marks its ticket pending, so a reconcile run finishes it (CONTRACT
    /// §9.2 step 2). A failure to record that is logged: the answer stands.
    pub async fn settle(&self, delivery: &Delivery, result: &Result<HaloOutcome, ApiError>) {
        if let (Some(ticket_id), Err(ApiError::Unavailable { .. })) = (delivery.ticket_id, result)
            && let Err(e) = self.work().mark_pending(ticket_id).await
        {
            tracing::error!(ticket_id, error = %e, "could not mark the ticket pending");
        }
    }

    async fn handle_ticket(
        &self,
        ticket_id: u64,
        delivery: &Delivery,
        known: Option<Ticket>,
        deadline: Deadline,
    ) -> Result<HaloOutcome, ApiError> {
        let delivery_id = delivery.delivery_id.as_deref();
        if let Some(id) = delivery_id
            && self.store.delivery_processed(id).await?
        {
            return Ok(HaloOutcome::Duplicate);
        }
        // One delivery per ticket at a time: the watermark is read and advanced by one owner.
        let claim = self
            .store
            .claim(&format!("ticket:{ticket_id}"), deadline, self.claim_hold)
            .await?;
        let result = self
            .handle_claimed(ticket_id, delivery_id, known, deadline)
            .await;
        // Freed before the answer goes out, so the next delivery never finds it held.
        claim.release().await;
        result
    }

    /// The delivery's work once the ticket's claim is held.
    async fn handle_claimed(
        &self,
        ticket_id: u64,
        delivery_id: Option<&str>,
        known: Option<Ticket>,
        deadline: Deadline,
    ) -> Result<HaloOutcome, ApiError> {
        if let Some(id) = delivery_id
            && self.store.delivery_processed(id).await?
        {
            return Ok(HaloOutcome::Duplicate);
        }
        let outcome = self.process(ticket_id, known, deadline).await?;
        if let Some(id) = delivery_id {
            self.store.record_delivery(id).await?;
        }
        Ok(outcome)
    }

    async fn process(
        &self,
        ticket_id: u64,
        known: Option<Ticket>,
        deadline: Deadline,
    ) -> Result<HaloOutcome, ApiError> {
        let known = match known {
            Some(ticket) => {
                let sync = self.store.ticket_sync(ticket_id).await?;
                self.current_enough(&ticket, &sync).then_some(ticket)
            }
            None => None,
        };
        let read = match known {
            Some(ticket) => Ok(ticket),
            None => self.halo.get_ticket(ticket_id, deadline).await,
        };
        let ticket = match read {
            Ok(t) => t,
            Err(UpstreamError::NotFound { .. }) => {
                return Ok(HaloOutcome::Ignored("ticket not found"));
            }
            // Halo will not be asked again if we say 200, so every other failure is a 503.
            Err(e) => {
                tracing::warn!(ticket_id, error = %e, "could not read the halo ticket");
                return Err(match ApiError::from(e) {
                    e @ ApiError::Unavailable { .. } => e,
                    _ => ApiError::unavailable(),
                });
            }
        };
        let incident = match self.incident_for(&ticket).await? {
            Ok(incident) => incident,
            Err(reason) => return Ok(HaloOutcome::Ignored(reason)),
        };
        let actions = match self.halo.list_actions(ticket_id, deadline).await {
            Ok(actions) => actions,
            // Deleted since Halo sent or listed it.
            Err(UpstreamError::NotFound { .. }) => {
                return Ok(HaloOutcome::Ignored("ticket not found"));
            }
            Err(e) => return Err(e.into()),
        };
        // Read again after the listing: a create's watermark may have landed meanwhile (CfToHalo
        // raises it without this ticket's claim), and the listing is judged against the latest.
        let mut sync = self.store.ticket_sync(ticket_id).await?;
        let forwarded = self
            .forward_notes(ticket_id, &incident, &actions, &mut sync, deadline)
            .await?;
        let closed = self
            .mirror_close(&ticket, &incident, &mut sync, deadline)
            .await?;
        // What the sweep compares with: a ticket listed later with no newer action is skipped.
        if ticket.last_action.is_some() && sync.seen_action < ticket.last_action {
            sync.seen_action = ticket.last_action;
            self.store.set_ticket_sync(ticket_id, sync).await?;
        }
        tracing::info!(
            ticket_id,
            forwarded,
            closed,
            watermark = sync.watermark,
            "halo ticket mirrored"
        );
        Ok(HaloOutcome::Processed { forwarded, closed })
    }

    /// The ticket's incident and workspace, or why it has none: the reference on the ticket,
    /// else the one we recorded when we linked it; the account we recorded, else the one
    /// `HALO_CLIENT_MAP` maps to the ticket's client.
    pub async fn incident_for(
        &self,
        ticket: &Ticket,
    ) -> Result<Result<LinkedIncident, &'static str>, ApiError> {
        let link = self.store.link_for_ticket(ticket.id).await?;
        let reference = match ticket.reference(self.settings.external_ref_field_id) {
            Some(r) => Some(r.to_string()),
            None => link.as_ref().map(|l| l.reference.clone()),
        };
        let Some(incident) = reference.as_deref().and_then(parse_reference) else {
            return Ok(Err("not a CF-linked ticket"));
        };
        let cf = &self.settings.cf;
        let known = link.is_some();
        let account = link.and_then(|l| l.account_id).or_else(|| {
            let client = ticket.client_id?;
            cf.account_for_client(client).map(str::to_string)
        });
        if !known {
            // Linked by its reference alone (made elsewhere, before links were watched, or the
            // store was lost): recorded now, so reconcile runs find it and later deliveries need
            // no lookup; unless the reference is already another ticket's (a clone, a split, a
            // second ticket made by hand), which keeps it (CONTRACT §11.2).
            if let Some(r) = &reference {
                if let Some(owner) = self.store.ticket_for_reference(r).await?
                    && owner != ticket.id
                {
                    tracing::warn!(
                        ticket_id = ticket.id,
                        linked_ticket_id = owner,
                        reference = r.as_str(),
                        "this ticket carries a reference another ticket is linked to: it is not linked"
                    );
                    return Ok(Err("reference linked to another ticket"));
                }
                self.store.link(r, ticket.id, account.as_deref()).await?;
                self.work().watch(ticket.id, r, account.as_deref()).await?;
            }
        }
        let Some(workspace) = cf.workspace_for(account.as_deref()) else {
            tracing::warn!(
                ticket_id = ticket.id,
                account = account.as_deref().unwrap_or("(unknown)"),
                "no ContraForce workspace for this account: add it to CF_WORKSPACE_MAP or set CF_WORKSPACE_ID"
            );
            return Ok(Err("no workspace for account"));
        };
        Ok(Ok(LinkedIncident {
            workspace: workspace.to_string(),
            incident,
        }))
    }

    /// The text to forward, or `None` when this action must not reach ContraForce.
    fn forwardable_text(&self, action: &Action) -> Option<String> {
        if action.hidden_from_user {
            return None;
        }
        if self.settings.integration_agent_id.is_some()
            && action.agent_id == self.settings.integration_agent_id
        {
            return None;
        }
        let from_html = action
            .note_html
            .as_deref()
            .map(html_to_text)
            .filter(|t| !t.is_empty());
        let text =
            from_html.or_else(|| action.note.as_deref().map(str::trim).map(str::to_string))?;
        // Our own notes never go back, whoever Halo names as their author.
        (!text.is_empty() && !is_bridge_note(&text)).then_some(text)
    }

    /// Posts every new public note, oldest first, advancing the watermark after each post. A
    /// ticket with no watermark yet (linked by its reference, or the store was lost) may have had
    /// notes forwarded before: the incident's comments are read first, once, so none is posted
    /// twice (CONTRACT §11.3).
    async fn forward_notes(
        &self,
        ticket_id: u64,
        incident: &LinkedIncident,
        actions: &[Action],
        sync: &mut TicketSync,
        deadline: Deadline,
    ) -> Result<usize, ApiError> {
        let mut forwarded = 0;
        let mut written = sync.watermark;
        // A ticket the bridge created: every action dated at or before the newest one Halo showed
        // in its create answer was there at creation (an automation's), not for ContraForce.
        if let Some(created) = sync.created_at.take() {
            let at_creation = actions
                .iter()
                .filter(|a| a.datetime.is_some_and(|at| at <= created))
                .map(|a| a.id)
                .max()
                .unwrap_or(0);
            sync.watermark = sync.watermark.max(at_creation);
            written = u64::MAX; // the cleared mark must be stored
        }
        let start = sync.watermark;
        let mut already: Option<Vec<String>> = None;
        for action in actions.iter().filter(|a| a.id > start) {
            if let Some(text) = self.forwardable_text(action) {
                let who = action.who.as_deref().unwrap_or("Halo");
                let content = format!("[Halo ticket #{ticket_id} note by {who}]\n\n{text}");
                // No watermark yet (linked by its reference, or the store was lost), or this
                // very post failed ambiguously before: list what ContraForce has first.
                if start == 0 || sync.doubt == Some(action.id) {
                    if already.is_none() {
                        let comments = self.cf.list_comments(incident.at(), deadline).await?;
                        already = Some(comments.into_iter().map(|c| c.text).collect());
                    }
                    if already.as_ref().is_some_and(|seen| seen.contains(&content)) {
                        tracing::info!(
                            ticket_id,
                            action_id = action.id,
                            "note already in contraforce"
                        );
                        sync.watermark = action.id;
                        sync.doubt = None;
                        continue;
                    }
                }
                // Marked in doubt before the post (with the skips before it): a process killed
                // during the post leaves the mark, and the next attempt lists first.
                if sync.doubt != Some(action.id) {
                    sync.doubt = Some(action.id);
                    self.store.set_ticket_sync(ticket_id, *sync).await?;
                }
                if let Err(e) = self
                    .cf
                    .post_comment(incident.at(), &content, deadline)
                    .await
                {
                    // Certainly not posted: no need to list before the next attempt.
                    if !ambiguous(&e) {
                        sync.doubt = None;
                        self.store.set_ticket_sync(ticket_id, *sync).await?;
                    }
                    tracing::warn!(ticket_id, action_id = action.id, error = %e, "comment not posted");
                    return Err(e.into());
                }
                forwarded += 1;
                sync.doubt = None;
                sync.watermark = action.id;
                self.store.set_ticket_sync(ticket_id, *sync).await?;
                written = sync.watermark;
                tracing::info!(
                    ticket_id,
                    action_id = action.id,
                    "note forwarded to contraforce"
                );
            } else {
                sync.watermark = action.id;
            }
        }
        // Skipped actions move the watermark too, so they are not judged again.
        if sync.watermark != written {
            self.store.set_ticket_sync(ticket_id, *sync).await?;
        }
        Ok(forwarded)
    }

    /// Closes the incident once per closing of the ticket; an open ticket re-arms it.
    async fn mirror_close(
        &self,
        ticket: &Ticket,
        incident: &LinkedIncident,
        sync: &mut TicketSync,
        deadline: Deadline,
    ) -> Result<bool, ApiError> {
        if !self.shows_closed(ticket) {
            // Re-opened: its next close is mirrored again, and its ContraForce comments are read
            // again. A close the bridge asked for and has not seen yet stays expected.
            if sync.close_mirrored {
                sync.close_mirrored = false;
                self.store.set_ticket_sync(ticket.id, *sync).await?;
                self.work().rearm_watch(ticket.id).await?;
            }
            return Ok(false);
        }
        if sync.closing {
            // The close the bridge made from the ContraForce side: mirrored, never echoed.
            sync.closing = false;
            sync.close_mirrored = true;
            self.store.set_ticket_sync(ticket.id, *sync).await?;
            return Ok(false);
        }
        if sync.close_mirrored {
            return Ok(false);
        }
        let comment = format!(
            "Closed in HaloPSA (ticket #{}, status '{}').",
            ticket.id,
            ticket.status_name.as_deref().unwrap_or("Closed")
        );
        let close = Close {
            comment: &comment,
            classification: &self.settings.close_classification,
            reason: &self.settings.close_classification_reason,
        };
        self.cf
            .close_incident(incident.at(), &close, deadline)
            .await?;
        sync.close_mirrored = true;
        self.store.set_ticket_sync(ticket.id, *sync).await?;
        tracing::info!(ticket_id = ticket.id, "incident closed in contraforce");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_at_most_three_parts() {
        let r = parse_reference("cf|sentinel|a|b").unwrap();
        assert_eq!(
            (r.source.as_str(), r.incident_id.as_str()),
            ("sentinel", "a|b")
        );
        for bad in ["CF|a|b", "cf||x", "cf|a|", "cf|a", "xx|a|b", ""] {
            assert_eq!(parse_reference(bad), None, "{bad}");
        }
    }
}
