//! Finding an incident's ticket in Halo by its reference, exactly, whether or not this Halo knows
//! the `third_party_id_string=` filter (CONTRACT §11.2).
//!
//! Halo ignores query parameters it does not know: on a build without the filter, the "lookup"
//! answers with the whole tenant. So a row counts only if it carries the reference, an answer with
//! rows that do not is "this Halo ignores the filter" (never "not found"), and the lookup then
//! reads the tickets updated since the incident existed, page by page, verifying every row.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::Value;

use super::client::{HaloClient, PAGE_SIZE};
use super::model::{Ticket, list_items};
use super::recent::Seen;
use crate::clock::utc_date_time;
use crate::http::budget::Permit;
use crate::http::retry::Idempotency;
use crate::http::{Deadline, System, UpstreamError};

/// A ticket for an incident cannot have been updated before the incident existed; the margin
/// covers clocks that disagree.
const WINDOW_MARGIN_SECS: i64 = 600;
/// Where a listing starts when the incident's creation time is unknown.
const UNKNOWN_CREATION_LOOKBACK_SECS: i64 = 30 * 24 * 3600;

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The incident's ticket (the lowest id carrying the reference).
    Found(u64),
    /// No ticket carries the reference.
    Absent,
    /// The date-window listing reached `HALO_LOOKUP_MAX_PAGES` without seeing every ticket:
    /// nothing was found in the pages read.
    Unsure {
        /// Pages read.
        pages: u32,
    },
}

/// The instant a listing for an incident starts from, as Unix seconds: its `createdAt` (RFC 3339)
/// less a margin, or 30 days back when it has none that parses.
pub fn window_start(created_at: Option<&str>, now_unix: i64) -> i64 {
    let created = created_at.and_then(|text| {
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()
    });
    match created {
        Some(t) => t.unix_timestamp().min(now_unix) - WINDOW_MARGIN_SECS,
        None => now_unix - UNKNOWN_CREATION_LOOKBACK_SECS,
    }
}

impl HaloClient {
    /// Whether this process has learnt that its Halo ignores `third_party_id_string=`.
    pub fn ignores_reference_filter(&self) -> bool {
        self.filter_ignored.load(Ordering::Relaxed)
    }

    /// Finds the ticket carrying `reference`: by the filter while this Halo honours it, else (and
    /// in custom-field mode) by the date-window listing from `since` (Unix seconds, see
    /// [`window_start`]). Of several tickets carrying it, the lowest id is the incident's.
    pub async fn find_ticket(
        &self,
        reference: &str,
        since: i64,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Lookup, UpstreamError> {
        if self.external_ref_field_id.is_none() && !self.ignores_reference_filter() {
            let rows = self
                .reference_filter_page(reference, permit, deadline)
                .await?;
            if rows.iter().all(|t| self.carries(t, reference)) {
                return Ok(lowest(reference, &rows));
            }
            if !self.filter_ignored.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "halo ignores ?third_party_id_string= (an older build): lookups read the tickets updated since each incident was created"
                );
            }
        }
        self.find_in_window(reference, since, permit, deadline)
            .await
    }

    fn carries(&self, ticket: &Ticket, reference: &str) -> bool {
        ticket.carries(reference, self.external_ref_field_id)
    }

    /// `GET /Tickets?third_party_id_string=<ref>`: the rows as Halo sent them, closed ones too.
    async fn reference_filter_page(
        &self,
        reference: &str,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Vec<Ticket>, UpstreamError> {
        let size = PAGE_SIZE.to_string();
        let query = [
            ("third_party_id_string", reference),
            ("includeclosed", "true"),
            ("pageinate", "true"),
            ("page_size", size.as_str()),
            ("page_no", "1"),
        ];
        self.ticket_page(&query, permit, deadline).await
    }

    /// The date-window listing, in id order so the first page with a hit holds the lowest id.
    async fn find_in_window(
        &self,
        reference: &str,
        since: i64,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Lookup, UpstreamError> {
        let found = self
            .scan_window(&[reference], since, permit, deadline)
            .await?;
        Ok(found.into_iter().next().unwrap_or(Lookup::Absent))
    }

    /// The tickets carrying each reference among those updated since `since`, by one listing
    /// for them all.
    pub(super) async fn scan_window(
        &self,
        references: &[&str],
        since: i64,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Vec<Lookup>, UpstreamError> {
        let (found, _) = self
            .scan_window_seen(references, since, permit, deadline)
            .await?;
        Ok(found)
    }

    /// [`HaloClient::scan_window`], and what it read, to remember (none when Halo did not keep
    /// the id order asked for).
    pub(super) async fn scan_window_seen(
        &self,
        references: &[&str],
        since: i64,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<(Vec<Lookup>, Option<Seen>), UpstreamError> {
        let max_pages = self.lookup_max_pages;
        let mut hits: Vec<Vec<Ticket>> = vec![Vec::new(); references.len()];
        let mut seen = Seen::new(since);
        let (mut highest, mut in_order) = (0, true);
        for page_no in 1..=max_pages {
            let rows = self
                .window_page(since, false, page_no, permit, deadline)
                .await?;
            let full = rows.len() >= PAGE_SIZE;
            let ordered = rows.windows(2).all(|w| w[0].id < w[1].id)
                && rows.first().is_none_or(|r| r.id > highest);
            in_order &= ordered;
            for row in rows {
                seen.add(&row, self.external_ref_field_id);
                highest = highest.max(row.id);
                for (i, reference) in references.iter().enumerate() {
                    if self.carries(&row, reference) {
                        hits[i].push(row.clone());
                    }
                }
            }
            // In id order, later pages hold only higher ids: once every reference has a hit,
            // the lowest of each is known. Out of order, read on.
            let all_found = hits.iter().all(|h| !h.is_empty());
            if !full || (all_found && ordered) {
                seen.read_up_to(highest);
                let found = references
                    .iter()
                    .zip(&hits)
                    .map(|(reference, found)| lowest(reference, found))
                    .collect();
                return Ok((found, in_order.then_some(seen)));
            }
        }
        tracing::warn!(
            pages = max_pages,
            from = %utc_date_time(i128::from(since) * 1_000_000_000, 0),
            "a reference lookup read HALO_LOOKUP_MAX_PAGES pages of tickets updated since the incident was created without reaching the end"
        );
        seen.read_up_to(highest);
        let found = references
            .iter()
            .zip(&hits)
            .map(|(reference, found)| match lowest(reference, found) {
                Lookup::Absent => Lookup::Unsure { pages: max_pages },
                found => found,
            })
            .collect();
        Ok((found, in_order.then_some(seen)))
    }

    /// Page `page_no` of the tickets updated since `since` (Unix seconds), closed ones included,
    /// in id order (`descending`: newest first), with the reference's custom field in
    /// custom-field mode.
    pub(super) async fn window_page(
        &self,
        since: i64,
        descending: bool,
        page_no: u32,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Vec<Ticket>, UpstreamError> {
        let from = utc_date_time(i128::from(since) * 1_000_000_000, 0);
        let (size, page) = (PAGE_SIZE.to_string(), page_no.to_string());
        let custom = self.external_ref_field_id.map(|id| id.to_string());
        let mut query = vec![
            ("lastupdatefromdate", from.as_str()),
            ("includeclosed", "true"),
            ("order", "id"),
            ("orderdesc", if descending { "true" } else { "false" }),
            ("pageinate", "true"),
            ("page_size", size.as_str()),
            ("page_no", page.as_str()),
        ];
        if let Some(custom) = &custom {
            query.push(("include_custom_fields", custom.as_str()));
        }
        self.ticket_page(&query, permit, deadline).await
    }

    /// One page of `GET /Tickets` with this query, read as tickets; an answer that is not a list
    /// is an error, never "no ticket" (that would create a duplicate).
    pub(super) async fn ticket_page(
        &self,
        query: &[(&str, &str)],
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Vec<Ticket>, UpstreamError> {
        let body = self
            .call(
                Method::GET,
                "Tickets",
                |r| r.query(query),
                Idempotency::Safe,
                permit,
                deadline,
            )
            .await?;
        tickets_of(&body)
    }
}

/// The tickets of a list answer, or an error when it is not a list.
pub(super) fn tickets_of(body: &Value) -> Result<Vec<Ticket>, UpstreamError> {
    if !(body.is_array() || body.is_object()) {
        return Err(UpstreamError::unavailable(
            System::Halo,
            "ticket list answer is not a list",
        ));
    }
    Ok(list_items(body, "tickets")
        .iter()
        .filter_map(|t| Ticket::from_json(t.as_object()?))
        .collect())
}

/// The lowest id among tickets that carry the reference; the others are logged, never linked.
fn lowest(reference: &str, hits: &[Ticket]) -> Lookup {
    let Some(first) = hits.iter().map(|t| t.id).min() else {
        return Lookup::Absent;
    };
    for other in hits.iter().map(|t| t.id).filter(|id| *id != first) {
        tracing::warn!(
            ticket_id = first,
            duplicate_ticket_id = other,
            reference,
            "two halo tickets carry this incident's reference: the lowest id is its ticket, the other is never linked"
        );
    }
    Lookup::Found(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_starts_ten_minutes_before_the_incident_was_created() {
        let now = 1_776_870_000; // 2026-04-22T15:00:00Z
        assert_eq!(
            window_start(Some("2026-04-22T14:55:00Z"), now),
            now - 300 - 600
        );
        assert_eq!(
            window_start(Some("2026-04-22T16:55:00+02:00"), now),
            now - 300 - 600
        );
        assert_eq!(
            window_start(Some("2026-04-23T00:00:00Z"), now),
            now - 600,
            "a creation time in the future starts from now"
        );
        assert_eq!(window_start(None, now), now - 30 * 24 * 3600);
        assert_eq!(window_start(Some("yesterday"), now), now - 30 * 24 * 3600);
    }

    #[test]
    fn of_several_tickets_the_lowest_id_wins() {
        let t = |id| Ticket {
            id,
            ..Ticket::default()
        };
        assert_eq!(lowest("r", &[t(9), t(4), t(7)]), Lookup::Found(4));
        assert_eq!(lowest("r", &[]), Lookup::Absent);
    }
}
