//! Which tickets `GET /api/Tickets` answers with: the lookup filters, the last-update window,
//! then paging.

use crate::sandbox::halo::clock::{parse_filter_date, ticks};
use crate::sandbox::halo::error::{ApiError, halo_error};
use crate::sandbox::halo::model::HaloTicket;
use crate::sandbox::halo::request::{Query, value_text};

/// Halo's default page size when paging is asked for without `page_size`.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Halo never answers more than 100 tickets a page, whatever `page_size` asks.
const MAX_PAGE_SIZE: usize = 100;

/// A list filter the fake understands.
pub(super) enum LookupFilter {
    ThirdParty(String),
    CustomField(u64, String),
}

impl LookupFilter {
    pub(super) fn matches(&self, t: &HaloTicket) -> bool {
        match self {
            LookupFilter::ThirdParty(want) => t.thirdpartynumber.as_deref() == Some(want.as_str()),
            LookupFilter::CustomField(fid, want) => t
                .customfields
                .iter()
                .any(|(id, value)| id == fid && value_text(value) == *want),
        }
    }
}

/// `thirdpartynumber=…` and `searchcustomfield_{id}=…`; other parameters are not filters.
pub(super) fn lookup_filters(query: &Query) -> Vec<LookupFilter> {
    query
        .0
        .iter()
        .filter_map(|(key, value)| {
            let key = key.to_ascii_lowercase();
            if key == "thirdpartynumber" {
                return Some(LookupFilter::ThirdParty(value.clone()));
            }
            let fid = key.strip_prefix("searchcustomfield_")?.parse().ok()?;
            Some(LookupFilter::CustomField(fid, value.clone()))
        })
        .collect()
}

/// The `thirdpartynumber` a list is filtered on, when it is (the index answers it).
pub(super) fn reference_filter(filters: &[LookupFilter]) -> Option<&str> {
    filters.iter().find_map(|f| match f {
        LookupFilter::ThirdParty(want) => Some(want.as_str()),
        LookupFilter::CustomField(..) => None,
    })
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
