//! `POST /api/CfToHalo` (CONTRACT §3.1).

use actix_web::HttpResponse;
use secrecy::ExposeSecret as _;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tracing::field::Empty;

use super::{BACKSTOP, Function, Invocation, Request, invoke, single_header};
use crate::contraforce::webhook::{self, Envelope, EnvelopeError, SignatureError};
use crate::error::ApiError;
use crate::http::Deadline;
use crate::secrets::Needs;
use crate::state::work::{Attempts, ParkedEvent, now_ms};
use crate::sync::cf_to_halo::{CfOutcome, CfToHalo};

/// CfToHalo to the shared preamble; it needs its signing secret(s) and Halo's client secret.
const CF_TO_HALO: Function<CfToHalo> = Function {
    span: |invocation| tracing::info_span!("CfToHalo", invocation = %invocation, event_id = Empty, ticket_id = Empty),
    readiness: |app| &app.cf_to_halo,
    needs: Needs {
        required: &["CF_WEBHOOK_SECRET", "HALO_CLIENT_SECRET"],
        any_of: &[],
        optional: &["CF_WEBHOOK_SECRET_PREVIOUS", "CF_WEBHOOK_AUTHORIZATION"],
    },
};

/// Verifies, parses and hands a ContraForce delivery to `sync::cf_to_halo`.
pub async fn cf_to_halo(request: Request) -> Result<HttpResponse, ApiError> {
    invoke(request, &CF_TO_HALO, handle).await
}

async fn handle(call: Invocation<CfToHalo>) -> Result<HttpResponse, ApiError> {
    let keys: Vec<_> = ["CF_WEBHOOK_SECRET", "CF_WEBHOOK_SECRET_PREVIOUS"]
        .into_iter()
        .filter_map(|name| call.secrets.get(name))
        .collect();
    let signed = webhook::verify(
        single_header(&call.req, "x-cf-signature"),
        single_header(&call.req, "x-cf-timestamp"),
        &call.body,
        &keys,
        call.app.clock.now_unix(),
        call.function.settings().max_skew_seconds,
    )
    .and_then(|mac| {
        authorization_matches(&call)
            .then_some(mac)
            .ok_or(SignatureError::Authorization)
    });
    let mac = signed.map_err(|reason| {
        tracing::debug!(%reason, "signature rejected");
        // The secret may have been rotated in Key Vault: re-read it (rate-limited).
        call.app.secrets.authentication_failed();
        ApiError::InvalidSignature
    })?;

    let event_id = single_header(&call.req, "x-cf-event-id")
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::MissingEventId)?;
    tracing::Span::current().record("event_id", event_id);
    let schema = single_header(&call.req, "x-cf-schema").and_then(|v| std::str::from_utf8(v).ok());
    let envelope = webhook::parse(&call.body, schema).map_err(|e| match e {
        EnvelopeError::Malformed(field) => ApiError::Malformed {
            detail: Some(field),
        },
        EnvelopeError::SchemaMismatch => ApiError::SchemaMismatch,
    })?;
    // What a parked event needs for `status` and its place in the queue.
    let (severity, reference) = match &envelope {
        Envelope::Unhandled { event_type } => {
            tracing::info!(%event_type, "event type not handled");
            return Ok(
                HttpResponse::Ok().json(json!({"status": "ignored", "reason": "unhandled schema"}))
            );
        }
        Envelope::IncidentCreated { incident, .. } => {
            (incident.severity.clone(), incident.reference())
        }
        Envelope::Investigation { investigation, .. } => (
            investigation.severity.clone().unwrap_or_default(),
            investigation.reference(),
        ),
    };
    let header_is_test =
        single_header(&call.req, "x-cf-test").is_some_and(|v| v.eq_ignore_ascii_case(b"true"));

    let deadline = Deadline::after(call.app.request_deadline);
    // A replayed signature stands for the event that first carried it (CONTRACT §8.2).
    let event_id = call.function.event_for(event_id, Some(&mac)).await?;
    let work = call
        .function
        .handle(&event_id, &envelope, header_is_test, deadline);
    let outcome = tokio::time::timeout_at(deadline.instant() + BACKSTOP, work)
        .await
        .unwrap_or_else(|_| Err(ApiError::unavailable()));
    // After the backstop, never under it: a 503 always leaves its event parked (CONTRACT §13).
    let parked = || ParkedEvent {
        event_id: event_id.clone(),
        body: String::from_utf8_lossy(&call.body).into_owned(),
        schema: schema.map(str::to_string),
        header_test: header_is_test,
        severity,
        reference,
        parked_at_ms: now_ms(),
        tries: Attempts::default(),
    };
    call.function.settle(&event_id, &outcome, parked).await;
    let outcome = outcome?;

    let body = match outcome {
        CfOutcome::Test { ticket } => json!({"status": "test", "ticket": ticket}),
        CfOutcome::TestVerdict { note } => json!({"status": "test", "note": note}),
        CfOutcome::Duplicate { ticket_id } => json!({"status": "duplicate", "ticketId": ticket_id}),
        CfOutcome::Created { ticket_id } => json!({"status": "created", "ticketId": ticket_id}),
        CfOutcome::Updated { ticket_id } => json!({"status": "updated", "ticketId": ticket_id}),
        CfOutcome::Noted { ticket_id, action } => {
            json!({"status": "noted", "ticketId": ticket_id, "action": action})
        }
        CfOutcome::Ignored(reason) => json!({"status": "ignored", "reason": reason}),
    };
    if let Some(id) = body.get("ticketId").and_then(|v| v.as_u64()) {
        tracing::Span::current().record("ticket_id", id);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// With `CF_WEBHOOK_AUTHORIZATION` set, the request's one `Authorization` header must equal it
/// exactly, compared in constant time (CONTRACT §8.3).
fn authorization_matches(call: &Invocation<CfToHalo>) -> bool {
    let Some(expected) = call.secrets.get("CF_WEBHOOK_AUTHORIZATION") else {
        return true;
    };
    let given = single_header(&call.req, "authorization").unwrap_or_default();
    bool::from(expected.expose_secret().as_bytes().ct_eq(given))
}
