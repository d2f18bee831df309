//! The Halo checks: a token, then one read per table the settings point into (outcomes, ticket
//! types, priorities, statuses). Every read is skipped when the token check failed.

use std::time::Instant;

use serde_json::Value;

use super::{CheckFuture, Ctx, Outcome, deadline, fail, pass, skip};
use crate::halo::model::flex_id;
use crate::http::UpstreamError;
use crate::settings::NoteOutcome;
use crate::tools::halo_lookup::{
    configured_closed_ids, is_note_outcome, note_outcome, outcome_name, records,
};

/// Halo issues a token for the configured client; the other Halo checks need it.
pub(super) fn halo_token(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(halo) = &ctx.halo else {
            return skip(
                "the Halo connection (HALO_AUTH_URL, HALO_API_BASE_URL, HALO_CLIENT_ID, HALO_CLIENT_SECRET) is not configured",
            );
        };
        let auth = ctx
            .settings
            .halo
            .as_ref()
            .map(|c| c.auth_url.clone())
            .unwrap_or_default();
        let started = Instant::now();
        match halo.fetch_token(deadline()).await {
            Ok(()) => {
                *ctx.halo_token_ok.lock().unwrap_or_else(|p| p.into_inner()) = true;
                pass(format!(
                    "{auth}/token issued a token in {} ms",
                    started.elapsed().as_millis()
                ))
            }
            Err(e) => fail(format!("{auth}/token: {e}")),
        }
    })
}

/// Reads a Halo table for a check; `Err` is the check's outcome.
pub(super) async fn halo_read(
    ctx: &Ctx,
    path: &str,
    query: &[(&str, &str)],
) -> Result<(Value, u128), Outcome> {
    let Some(halo) = ctx.halo_ready() else {
        return Err(skip("needs a Halo token"));
    };
    let started = Instant::now();
    match halo.get_json(path, query, deadline()).await {
        Ok(body) if body.is_array() || body.is_object() => {
            Ok((body, started.elapsed().as_millis()))
        }
        Ok(_) => Err(fail(format!("GET /{path} did not answer a JSON list"))),
        Err(e) => Err(fail(format!("GET /{path}: {}", describe(&e)))),
    }
}

pub(super) fn describe(e: &UpstreamError) -> String {
    match e {
        UpstreamError::Rejected { status: 403, .. } => {
            format!("{e} (the API application lacks the permission)")
        }
        _ => e.to_string(),
    }
}

/// `HALO_PRIVATE_NOTE_OUTCOME` is one of Halo's outcomes.
pub(super) fn halo_outcomes(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let (body, ms) = match halo_read(ctx, "Outcome", &[]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let rows = records(&body);
        let wanted = note_outcome(&ctx.settings);
        let shown = match &wanted {
            NoteOutcome::Id(id) => format!("id {id}"),
            NoteOutcome::Name(name) => format!("{name:?}"),
        };
        match rows.iter().find(|o| is_note_outcome(o, &wanted)) {
            Some(o) => pass(format!(
                "GET /Outcome answered {} outcomes in {ms} ms; HALO_PRIVATE_NOTE_OUTCOME {shown} is outcome {} {:?}",
                rows.len(),
                o.get("id").and_then(flex_id).unwrap_or_default(),
                outcome_name(o)
            )),
            None => {
                let names: Vec<String> = rows.iter().take(12).map(|o| outcome_name(o)).collect();
                fail(format!(
                    "HALO_PRIVATE_NOTE_OUTCOME {shown} is not among Halo's {} outcomes ({}); run halo-lookup outcomes",
                    rows.len(),
                    names.join(", ")
                ))
            }
        }
    })
}

fn ids_in(body: &Value, key: &str) -> Vec<u64> {
    records(body)
        .iter()
        .filter_map(|o| o.get(key).and_then(flex_id))
        .collect()
}

/// `HALO_DEFAULT_TICKETTYPE_ID` is one of Halo's ticket types.
pub(super) fn halo_ticket_type(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(cf) = &ctx.settings.cf_to_halo else {
            return skip("CfToHalo is not configured");
        };
        let want = cf.mapping.ticket_type_id;
        let (body, _) = match halo_read(ctx, "TicketType", &[]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        if ids_in(&body, "id").contains(&want) {
            pass(format!("HALO_DEFAULT_TICKETTYPE_ID {want} exists"))
        } else {
            fail(format!(
                "HALO_DEFAULT_TICKETTYPE_ID {want} is not among Halo's ticket types; run halo-lookup ticket-types"
            ))
        }
    })
}

/// Every id of `HALO_PRIORITY_MAP` is a Halo `priorityid`.
pub(super) fn halo_priorities(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(cf) = &ctx.settings.cf_to_halo else {
            return skip("CfToHalo is not configured");
        };
        let (body, _) = match halo_read(ctx, "Priority", &[]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let known = ids_in(&body, "priorityid");
        let mut unknown: Vec<String> = cf
            .mapping
            .priority_map
            .iter()
            .filter(|(_, id)| !known.contains(id))
            .map(|(severity, id)| format!("{severity}={id}"))
            .collect();
        unknown.sort();
        if unknown.is_empty() {
            pass(format!(
                "every HALO_PRIORITY_MAP id is a Halo priorityid ({} SLA rows)",
                known.len()
            ))
        } else {
            fail(format!(
                "HALO_PRIORITY_MAP entries with no such Halo priorityid: {}; run halo-lookup priorities",
                unknown.join(", ")
            ))
        }
    })
}

/// Every id of `HALO_CLOSED_STATUS_ID` is one of Halo's ticket statuses.
pub(super) fn halo_closed_statuses(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(want) = configured_closed_ids(&ctx.settings) else {
            return skip("HALO_CLOSED_STATUS_ID is not set");
        };
        let (body, _) = match halo_read(ctx, "Status", &[("type", "ticket")]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let rows = records(&body);
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in &want {
            match rows
                .iter()
                .find(|o| o.get("id").and_then(flex_id) == Some(*id))
            {
                Some(o) => {
                    let name = o.get("name").and_then(Value::as_str).unwrap_or("");
                    found.push(format!("{id} {name:?}"));
                }
                None => missing.push(id.to_string()),
            }
        }
        if missing.is_empty() {
            pass(format!("HALO_CLOSED_STATUS_ID: {}", found.join(", ")))
        } else {
            fail(format!(
                "HALO_CLOSED_STATUS_ID ids not among Halo's statuses: {}; run halo-lookup statuses",
                missing.join(", ")
            ))
        }
    })
}

/// Halo's webhooks that point at this bridge's HaloToCf are active (CONTRACT §9.3): Halo
/// disables a webhook after repeated failed deliveries and does not say so anywhere else.
pub(super) fn halo_webhooks(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(halo) = ctx.halo_ready() else {
            return skip("needs a Halo token");
        };
        let body = match halo.get_json("Webhook", &[], deadline()).await {
            Ok(body) => body,
            Err(UpstreamError::Unauthorized { .. })
            | Err(UpstreamError::Misconfigured { .. })
            | Err(UpstreamError::Rejected {
                status: 401 | 403, ..
            }) => {
                return skip(
                    "the API application may not read webhooks (GET /Webhook refused): check them in Halo",
                );
            }
            Err(e) => return fail(format!("GET /Webhook: {}", describe(&e))),
        };
        let ours: Vec<_> = records(&body)
            .into_iter()
            .filter(|w| {
                w.get("url")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.to_ascii_lowercase().contains("/api/halotocf"))
            })
            .collect();
        if ours.is_empty() {
            return skip("no Halo webhook points at /api/HaloToCf");
        }
        let name = |w: &serde_json::Map<String, Value>| {
            w.get("name")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
                .to_string()
        };
        let inactive: Vec<String> = ours
            .iter()
            .filter(|w| w.get("active") != Some(&Value::Bool(true)))
            .map(|w| name(w))
            .collect();
        if inactive.is_empty() {
            let names: Vec<String> = ours.iter().map(|w| name(w)).collect();
            pass(format!("active: {}", names.join(", ")))
        } else {
            fail(format!(
                "inactive: {} (Halo disables a webhook after repeated failed deliveries; re-enable it in Halo, and the next reconcile run catches up what it missed)",
                inactive.join(", ")
            ))
        }
    })
}
