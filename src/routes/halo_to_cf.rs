//! `POST /api/HaloToCf` (CONTRACT §4).

use actix_web::HttpResponse;
use serde_json::json;
use tracing::field::Empty;

use super::{BACKSTOP, Function, Invocation, Request, invoke, single_header};
use crate::error::ApiError;
use crate::halo::{signature, webhook};
use crate::http::Deadline;
use crate::secrets::Needs;
use crate::settings::SignatureLayout;
use crate::sync::halo_to_cf::{HaloOutcome, HaloToCf};

/// HaloToCf to the shared preamble; it needs a shared or signing secret, and both APIs' client
/// secrets.
const HALO_TO_CF: Function<HaloToCf> = Function {
    span: |invocation| tracing::info_span!("HaloToCf", invocation = %invocation, delivery_id = Empty, ticket_id = Empty),
    readiness: |app| &app.halo_to_cf,
    needs: Needs {
        required: &["HALO_CLIENT_SECRET", "CF_SERVICE_ACCOUNT_CLIENT_SECRET"],
        any_of: &["HALO_WEBHOOK_SECRET", "HALO_WEBHOOK_SIGNING_SECRET"],
        optional: &["HALO_WEBHOOK_SECRET_PREVIOUS"],
    },
};

/// Authenticates, parses and hands a Halo delivery to `sync::halo_to_cf`.
pub async fn halo_to_cf(request: Request) -> Result<HttpResponse, ApiError> {
    invoke(request, &HALO_TO_CF, handle).await
}

async fn handle(call: Invocation<HaloToCf>) -> Result<HttpResponse, ApiError> {
    let (req, secrets) = (&call.req, &call.secrets);
    // The previous shared secret only counts beside a current one.
    let shared: Vec<_> = match secrets.get("HALO_WEBHOOK_SECRET") {
        Some(current) => [Some(current), secrets.get("HALO_WEBHOOK_SECRET_PREVIOUS")]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let signing = secrets.get("HALO_WEBHOOK_SIGNING_SECRET");
    let by_secret = webhook::shared_secret_matches(single_header(req, "x-halo-secret"), &shared);
    let settings = call.function.settings();
    let form = &settings.signature_form;
    let by_signature = !by_secret
        && signing.is_some_and(|secret| {
            let signature = single_header(req, &settings.signature_header)
                .and_then(|h| std::str::from_utf8(h).ok());
            let header = |name: &str| {
                single_header(req, name)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .map(str::to_owned)
            };
            signature
                .is_some_and(|s| signature::request_matches(form, s, header, &call.body, secret))
        });
    if !(by_secret || by_signature) {
        if signing.is_some()
            && form.layout == SignatureLayout::Body
            && req.headers().contains_key("x-halo-date")
        {
            tracing::warn!(
                "halo signature failed and the request carries x-halo-date: Halo may sign headers too; run check-config to find the HALO_WEBHOOK_SIGNATURE_FORM that verifies"
            );
        }
        call.app.secrets.authentication_failed();
        return Err(ApiError::InvalidCallbackSecret);
    }

    let delivery = webhook::parse(&call.body).map_err(|_| ApiError::Malformed { detail: None })?;
    let span = tracing::Span::current();
    if let Some(id) = &delivery.delivery_id {
        span.record("delivery_id", id.as_str());
    }
    if let Some(id) = delivery.ticket_id {
        span.record("ticket_id", id);
    }
    let deadline = Deadline::after(call.app.request_deadline);
    let outcome = tokio::time::timeout_at(
        deadline.instant() + BACKSTOP,
        call.function.handle(&delivery, deadline),
    )
    .await
    .unwrap_or_else(|_| Err(ApiError::unavailable()));
    // After the backstop, never under it: a 503 always leaves its ticket pending (CONTRACT §13).
    call.function.settle(&delivery, &outcome).await;
    let outcome = outcome?;
    let body = match outcome {
        HaloOutcome::Ignored(reason) => json!({"status": "ignored", "reason": reason}),
        HaloOutcome::Duplicate => json!({"status": "duplicate"}),
        HaloOutcome::Processed { forwarded, closed } => {
            json!({"status": "processed", "actionsForwarded": forwarded, "closed": closed})
        }
    };
    Ok(HttpResponse::Ok().json(body))
}
