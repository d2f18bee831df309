//! What this process has read of Halo's recently updated tickets (CONTRACT §12, shared lookups).
//!
//! In a storm every batch of store misses lists the tickets updated since its incidents were
//! created, and the storm itself keeps adding to that window: from its 101st ticket on, every
//! lookup would read two pages, then three. Halo numbers tickets in order, so a lookup that
//! follows another within a minute, over the same window or a later one, reads only the tickets
//! above the highest id it has seen (newest first, usually one page) and answers from both reads.
//! After a minute the window is read again from its start, so a ticket deleted or edited since is
//! not remembered for long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::client::{HaloClient, PAGE_SIZE};
use super::lookup::Lookup;
use super::model::Ticket;
use crate::http::budget::Permit;
use crate::http::{Deadline, UpstreamError};

/// How long a read of the whole window is trusted.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// Past this many references the memory is dropped (a window this busy is read whole each time).
const MAX_REFERENCES: usize = 50_000;

/// The tickets of one window read so far.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// The window's start (Unix seconds).
    since: i64,
    /// Every ticket of the window numbered up to this was read.
    top: u64,
    /// Reference → the lowest id seen carrying it.
    first: HashMap<String, u64>,
    /// When the window was read from its start.
    built: Instant,
}

impl Seen {
    /// An empty read of the window from `since`.
    pub(super) fn new(since: i64) -> Self {
        Self {
            since,
            top: 0,
            first: HashMap::new(),
            built: Instant::now(),
        }
    }

    /// Notes a row read (every reference it carries).
    pub(super) fn add(&mut self, ticket: &Ticket, field_id: Option<u64>) {
        for reference in ticket.references(field_id) {
            let first = self.first.entry(reference.to_owned()).or_insert(ticket.id);
            if *first != ticket.id {
                tracing::warn!(
                    ticket_id = (*first).min(ticket.id),
                    duplicate_ticket_id = (*first).max(ticket.id),
                    reference,
                    "two halo tickets carry this incident's reference: the lowest id is its ticket, the other is never linked"
                );
                *first = (*first).min(ticket.id);
            }
        }
    }

    /// Every ticket of the window up to `id` has been read.
    pub(super) fn read_up_to(&mut self, id: u64) {
        self.top = self.top.max(id);
    }

    fn answer(&self, references: &[&str]) -> Vec<Lookup> {
        references
            .iter()
            .map(|r| {
                self.first
                    .get(*r)
                    .map_or(Lookup::Absent, |id| Lookup::Found(*id))
            })
            .collect()
    }
}

/// The process's memory of its last window read (shared by every copy of the client).
#[derive(Debug, Default)]
pub(super) struct Recent {
    seen: Mutex<Option<Seen>>,
}

impl Recent {
    /// The memory, when it covers a window from `since` and is fresh.
    fn fresh(&self, since: i64) -> Option<Seen> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.as_ref()
            .filter(|s| s.since <= since && s.built.elapsed() < FRESH_FOR)
            .cloned()
    }

    /// Keeps `seen` as the memory (unless a fresher one is kept already or it is too big).
    pub(super) fn keep(&self, seen: Seen) {
        let mut kept = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.first.len() > MAX_REFERENCES {
            *kept = None;
            return;
        }
        let newer = kept
            .as_ref()
            .is_none_or(|k| k.built < seen.built || (k.built == seen.built && k.top <= seen.top));
        if newer {
            *kept = Some(seen);
        }
    }
}

impl HaloClient {
    /// The tickets carrying each reference, among those updated since `since`: from memory and
    /// the tickets Halo numbered since, else by reading the whole window.
    pub(super) async fn scan_recent(
        &self,
        references: &[&str],
        since: i64,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<Vec<Lookup>, UpstreamError> {
        if let Some(mut seen) = self.recent.fresh(since)
            && self.read_newer(&mut seen, permit, deadline).await?
        {
            let answers = seen.answer(references);
            self.recent.keep(seen);
            return Ok(answers);
        }
        let (answers, seen) = self
            .scan_window_seen(references, since, permit, deadline)
            .await?;
        if let Some(seen) = seen {
            self.recent.keep(seen);
        }
        Ok(answers)
    }

    /// Reads the window's tickets newest first down to the highest id seen before; false when
    /// Halo does not keep that order or `HALO_LOOKUP_MAX_PAGES` pages do not reach it.
    async fn read_newer(
        &self,
        seen: &mut Seen,
        permit: Option<&Permit>,
        deadline: Deadline,
    ) -> Result<bool, UpstreamError> {
        let mut highest = seen.top;
        for page_no in 1..=self.lookup_max_pages {
            let rows = self
                .window_page(seen.since, true, page_no, permit, deadline)
                .await?;
            if !rows.windows(2).all(|w| w[0].id > w[1].id) {
                return Ok(false);
            }
            for row in &rows {
                seen.add(row, self.external_ref_field_id);
                highest = highest.max(row.id);
            }
            let reached = rows.last().is_none_or(|r| r.id <= seen.top);
            if reached || rows.len() < PAGE_SIZE {
                seen.read_up_to(highest);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: u64, reference: &str) -> Ticket {
        Ticket {
            id,
            third_party_id_string: Some(reference.to_owned()),
            ..Ticket::default()
        }
    }

    #[test]
    fn the_lowest_id_carrying_a_reference_is_remembered() {
        let mut seen = Seen::new(0);
        seen.add(&ticket(9, "r"), None);
        seen.add(&ticket(4, "r"), None);
        seen.add(&ticket(5, "s"), None);
        assert_eq!(
            seen.answer(&["r", "s", "t"]),
            [Lookup::Found(4), Lookup::Found(5), Lookup::Absent]
        );
    }

    #[test]
    fn a_memory_serves_only_a_window_it_covers_and_only_while_fresh() {
        let recent = Recent::default();
        let mut seen = Seen::new(100);
        seen.read_up_to(7);
        recent.keep(seen);
        assert!(recent.fresh(100).is_some());
        assert!(recent.fresh(160).is_some(), "a later window is covered");
        assert!(recent.fresh(40).is_none(), "an earlier one is not");
        let mut stale = recent.fresh(100).unwrap();
        stale.built = Instant::now() - FRESH_FOR;
        *recent.seen.lock().unwrap() = Some(stale);
        assert!(recent.fresh(100).is_none());
    }
}
