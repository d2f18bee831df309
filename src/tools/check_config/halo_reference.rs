//! How the bridge finds an incident's ticket in this Halo (CONTRACT §11.4): whether Halo honours
//! the `third_party_id_string=` filter (read-only: a reference that cannot exist), and in
//! custom-field mode whether listings return the field.

use serde_json::Value;

use super::halo::halo_read;
use super::{CheckFuture, Ctx, fail, pass, skip, warn};
use crate::halo::model::flex_id;
use crate::tools::halo_lookup::records;

/// A lookup of a reference no incident can have: no rows means the filter is honoured.
pub(super) fn reference_filter(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(conn) = &ctx.settings.halo else {
            return skip("the Halo connection is not configured");
        };
        if let Some(field) = conn.external_ref_field_id {
            return skip(format!(
                "custom-field mode (HALO_EXTERNAL_REF_FIELD_ID={field}): lookups read the tickets updated since each incident was created"
            ));
        }
        let probe = format!("cf|check-config|{}", uuid::Uuid::new_v4());
        let query = [
            ("third_party_id_string", probe.as_str()),
            ("includeclosed", "true"),
            ("pageinate", "true"),
            ("page_size", "1"),
            ("page_no", "1"),
        ];
        let (body, ms) = match halo_read(ctx, "Tickets", &query).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        if records(&body).is_empty() {
            pass(format!(
                "Halo honours the reference filter (GET /Tickets?third_party_id_string= answered no rows for a reference that cannot exist, {ms} ms): one call per lookup"
            ))
        } else {
            warn(format!(
                "Halo ignores ?third_party_id_string= (older build): lookups use the date-window listing, one call per 100 tickets updated since the incident was created (at most HALO_LOOKUP_MAX_PAGES={} calls) for each incident the state store does not know",
                conn.lookup_max_pages
            ))
        }
    })
}

/// In custom-field mode, a listing with `include_custom_fields` carries the field: without it,
/// no lookup could ever find a ticket.
pub(super) fn custom_field_listing(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(field) = ctx
            .settings
            .halo
            .as_ref()
            .and_then(|c| c.external_ref_field_id)
        else {
            return skip("the reference is kept in third_party_id_string");
        };
        let id = field.to_string();
        let query = [
            ("include_custom_fields", id.as_str()),
            ("includeclosed", "true"),
            ("pageinate", "true"),
            ("page_size", "20"),
            ("page_no", "1"),
        ];
        let (body, ms) = match halo_read(ctx, "Tickets", &query).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let rows = records(&body);
        if rows.is_empty() {
            return skip("Halo has no tickets yet to check the field on");
        }
        let carrying = rows
            .iter()
            .filter(|t| {
                t.get("customfields")
                    .and_then(Value::as_array)
                    .is_some_and(|fields| {
                        fields
                            .iter()
                            .any(|f| f.get("id").and_then(flex_id) == Some(field))
                    })
            })
            .count();
        if carrying > 0 {
            pass(format!(
                "GET /Tickets?include_custom_fields={field} lists the field ({carrying} of {} tickets, {ms} ms)",
                rows.len()
            ))
        } else {
            fail(format!(
                "GET /Tickets?include_custom_fields={field} lists none of {} tickets with custom field {field}: check HALO_EXTERNAL_REF_FIELD_ID, or lookups can never find a ticket",
                rows.len()
            ))
        }
    })
}
