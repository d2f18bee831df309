//! Which string Halo's webhook HMAC covers (CONTRACT §11.5). Halo has not published it for
//! webhooks with "headers to sign", so this check reads the bridge's webhook's recent deliveries
//! from `GET /WebhookEvent` (their headers and bodies as sent), tries every candidate form with
//! the configured signing secret, and names the `HALO_WEBHOOK_SIGNATURE_FORM` that verifies.

use serde_json::{Map, Value};

use super::halo::halo_read;
use super::{CheckFuture, Ctx, Outcome, fail, pass, skip};
use crate::halo::signature::{RecordedDelivery, candidate_forms, parse_recorded_headers};
use crate::settings::SignatureForm;
use crate::tools::halo_lookup::records;

/// How many recent deliveries are tried.
const RECENT: &str = "10";

/// The form the recent deliveries verify with, against the configured one.
pub(super) fn signature_form(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(settings) = &ctx.settings.halo_to_cf else {
            return skip("HaloToCf is not configured");
        };
        let Some(secret) = ctx.secrets.value("HALO_WEBHOOK_SIGNING_SECRET") else {
            return skip(
                "HALO_WEBHOOK_SIGNING_SECRET is not set: Halo webhooks are checked by X-Halo-Secret",
            );
        };
        let (hooks, _) = match halo_read(ctx, "Webhook", &[]).await {
            Ok(read) => read,
            Err(outcome) => return refused(outcome),
        };
        let Some(hook) = records(&hooks).into_iter().find(|w| points_at_us(w)) else {
            return skip("no Halo webhook points at /api/HaloToCf");
        };
        let Some(id) = hook.get("id").and_then(Value::as_str) else {
            return skip("Halo's webhook has no id to read its deliveries by");
        };
        let query = [("webhook_id", id), ("count", RECENT)];
        let (events, _) = match halo_read(ctx, "WebhookEvent", &query).await {
            Ok(read) => read,
            Err(outcome) => return refused(outcome),
        };
        let header = &settings.signature_header;
        let deliveries: Vec<RecordedDelivery> = records(&events)
            .into_iter()
            .filter_map(recorded)
            .filter(|d| d.header(header).is_some())
            .collect();
        if deliveries.is_empty() {
            return skip(format!(
                "no recent delivery carries {header}: let Halo send one (any ticket update), then run check-config again"
            ));
        }
        let configured = &settings.signature_form;
        let verifying = |form: &SignatureForm| {
            deliveries
                .iter()
                .filter(|d| d.verifies(form, header, &secret))
                .count()
        };
        let n = deliveries.len();
        let ok = verifying(configured);
        if ok > 0 {
            return pass(format!(
                "HALO_WEBHOOK_SIGNATURE_FORM={configured} verifies {ok} of {n} recent deliveries"
            ));
        }
        let forms = candidate_forms(&signed_headers(hook));
        match forms.iter().find(|f| verifying(f) > 0) {
            Some(found) => fail(format!(
                "recent deliveries verify with HALO_WEBHOOK_SIGNATURE_FORM={found} ({} of {n}), not {configured}: set HALO_WEBHOOK_SIGNATURE_FORM={found}",
                verifying(found)
            )),
            None => fail(format!(
                "none of {} candidate forms verifies the {n} recent deliveries: check HALO_WEBHOOK_SIGNING_SECRET, HALO_WEBHOOK_SIGNATURE_HEADER, and the webhook's signing settings in Halo (README, \"A signed Halo webhook\")",
                forms.len()
            )),
        }
    })
}

/// A refused read is a skip (the API application may lack the permission), anything else fails.
fn refused(outcome: Outcome) -> Outcome {
    if outcome.detail.contains("401") || outcome.detail.contains("403") {
        skip(format!(
            "the API application may not read webhooks or their deliveries: {}",
            outcome.detail
        ))
    } else {
        outcome
    }
}

fn points_at_us(hook: &Map<String, Value>) -> bool {
    hook.get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.to_ascii_lowercase().contains("/api/halotocf"))
}

/// The headers the webhook says it signs (`headers_to_sign`: a list or a comma string).
fn signed_headers(hook: &Map<String, Value>) -> Vec<String> {
    match hook.get("headers_to_sign") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().or_else(|| v.get("name")?.as_str()))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        Some(Value::String(list)) => list
            .split([',', ';', ' '])
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// A `WebhookEvent` row as a delivery: `requestheaders` and `requestbody` as Halo recorded them.
fn recorded(event: &Map<String, Value>) -> Option<RecordedDelivery> {
    let headers = match event.get("requestheaders")? {
        Value::String(text) => parse_recorded_headers(text),
        other => parse_recorded_headers(&other.to_string()),
    };
    let body = event.get("requestbody")?.as_str()?.to_owned();
    Some(RecordedDelivery { headers, body })
}
