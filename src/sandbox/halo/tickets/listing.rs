//! Which tickets `GET /api/Tickets` answers with: the lookup filters, then paging.

use crate::sandbox::halo::model::HaloTicket;
use crate::sandbox::halo::request::{Query, value_text};

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

/// Applies `pageinate/page_size/page_no`, else `count`.
pub(super) fn page_of<T>(items: Vec<T>, query: &Query) -> Vec<T> {
    if query.flag("pageinate") {
        let size = query.number("page_size").unwrap_or(50).max(1);
        let page = query.number("page_no").unwrap_or(1).max(1);
        return items
            .into_iter()
            .skip((page - 1) * size)
            .take(size)
            .collect();
    }
    match query.number("count") {
        Some(count) => items.into_iter().take(count).collect(),
        None => items,
    }
}
