//! Which tickets `GET /api/Tickets` answers with: the lookup filters, the last-update window,
//! then paging.

use crate::sandbox::halo::clock::{parse_filter_date, ticks};
use crate::sandbox::halo::error::{ApiError, halo_error};
use crate::sandbox::halo::model::HaloTicket;
use crate::sandbox::halo::request::Query;

/// Halo's default page size when paging is asked for without `page_size`.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Halo never answers more than 100 tickets a page, whatever `page_size` asks.
const MAX_PAGE_SIZE: usize = 100;

/// The `third_party_id_string` a list is filtered on, unless this Halo does not know the filter
/// (an older build: then it is no filter at all).
pub(super) fn reference_filter(query: &Query, ignored: bool) -> Option<&str> {
    if ignored {
        return None;
    }
    query.get("third_party_id_string")
}

/// Which tickets a list keeps by their state: open ones only unless `includeclosed` (or
/// `closed_only`) asks for closed ones too. Halo's default list is the open queue; the strictest
/// reading of it is the one a client must be ready for.
pub(super) struct ClosedFilter {
    open: bool,
    closed: bool,
}

impl ClosedFilter {
    pub(super) fn parse(query: &Query) -> ClosedFilter {
        let truthy = |key: &str| {
            query
                .get(key)
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v.trim() == "1")
        };
        if truthy("closed_only") {
            return ClosedFilter {
                open: false,
                closed: true,
            };
        }
        ClosedFilter {
            open: true,
            closed: truthy("includeclosed") && !truthy("open_only"),
        }
    }

    pub(super) fn keeps(&self, t: &HaloTicket) -> bool {
        if t.hasbeenclosed {
            self.closed
        } else {
            self.open
        }
    }
}

/// The custom field ids `include_custom_fields` names (a comma list).
pub(super) fn included_custom_fields(query: &Query) -> Vec<u64> {
    query
        .get("include_custom_fields")
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

/// `order=id` sorts by id, ascending unless `orderdesc=true`; without `order`, newest id first.
pub(super) fn ascending(query: &Query) -> bool {
    query
        .get("order")
        .is_some_and(|o| o.trim().eq_ignore_ascii_case("id"))
        && !query.flag("orderdesc")
}

/// `lastupdatefromdate` / `lastupdatetodate`: both ends inclusive, in 100 ns ticks (UTC).
pub(super) struct UpdateWindow {
    from: Option<i128>,
    to: Option<i128>,
}

impl UpdateWindow {
    /// Reads both bounds; one that does not parse is Halo's 400.
    pub(super) fn parse(query: &Query) -> Result<UpdateWindow, ApiError> {
        let bound = |key: &str| match query.get(key) {
            None => Ok(None),
            Some(text) => parse_filter_date(text).map(Some).ok_or_else(|| {
                halo_error(400, &format!("The value '{text}' is not valid for {key}."))
            }),
        };
        Ok(UpdateWindow {
            from: bound("lastupdatefromdate")?,
            to: bound("lastupdatetodate")?,
        })
    }

    pub(super) fn contains(&self, t: &HaloTicket) -> bool {
        // Most lists (the bridge's lookups) have no window: skip the clock arithmetic.
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let at = ticks(t.last_update);
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at <= to)
    }
}

/// The page `pageinate=true` asked for: its number (from 1) and its effective size.
#[derive(Clone, Copy)]
pub(super) struct Page {
    pub(super) no: usize,
    pub(super) size: usize,
}

/// Applies `pageinate/page_size/page_no` (returning the page answered), else `count`.
pub(super) fn page_of<T>(items: Vec<T>, query: &Query) -> (Vec<T>, Option<Page>) {
    if query.flag("pageinate") {
        let size = query
            .number("page_size")
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let no = query.number("page_no").unwrap_or(1).max(1);
        let page = items
            .into_iter()
            .skip((no - 1).saturating_mul(size))
            .take(size)
            .collect();
        return (page, Some(Page { no, size }));
    }
    let items = match query.number("count") {
        Some(count) => items.into_iter().take(count).collect(),
        None => items,
    };
    (items, None)
}
