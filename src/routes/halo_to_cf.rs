//! `POST /api/HaloToCf` (CONTRACT §4).

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument as _;
use tracing::field::Empty;

use super::{BACKSTOP, invocation_id, read_body, single_header};
use crate::error::ApiError;
use crate::halo::webhook;
use crate::http::Deadline;
use crate::startup::AppState;
use crate::sync::halo_to_cf::HaloOutcome;

/// Authenticates, parses and hands a Halo delivery to `sync::halo_to_cf`.
pub async fn halo_to_cf(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let span = tracing::info_span!("HaloToCf", invocation = %invocation_id(&req), delivery_id = Empty, ticket_id = Empty);
    let started = Instant::now();
    let result = handle(&req, payload, &app).instrument(span.clone()).await;
    let status = match &result {
        Ok(r) => r.status(),
        Err(e) => e.status_code(),
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| match &result {
        Ok(_) => tracing::info!(status = status.as_u16(), elapsed_ms, "answered"),
        Err(e) => tracing::warn!(status = status.as_u16(), elapsed_ms, error = %e, "answered"),
    });
    result
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    app: &AppState,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(req, payload, app.max_body_bytes).await?;
    let function = app
        .halo_to_cf
        .as_ref()
        .map_err(|missing| ApiError::NotConfigured(missing.clone()))?;
    let settings = function.settings();
    let by_secret = webhook::shared_secret_matches(
        single_header(req, "x-halo-secret"),
        &settings.shared_secrets,
    );
    let by_signature = !by_secret
        && settings.signing_secret.as_ref().is_some_and(|secret| {
            webhook::signature_matches(
                single_header(req, &settings.signature_header),
                &body,
                secret,
            )
        });
    if !(by_secret || by_signature) {
        if settings.signing_secret.is_some() && req.headers().contains_key("x-halo-date") {
            tracing::warn!(
                "halo signature failed and the request carries x-halo-date: signed headers are not supported, leave \"headers to sign\" empty in Halo's webhook settings"
            );
        }
        return Err(ApiError::InvalidCallbackSecret);
    }

    let delivery = webhook::parse(&body).map_err(|_| ApiError::Malformed { detail: None })?;
    let span = tracing::Span::current();
    if let Some(id) = &delivery.delivery_id {
        span.record("delivery_id", id.as_str());
    }
    if let Some(id) = delivery.ticket_id {
        span.record("ticket_id", id);
    }
    let deadline = Deadline::after(app.request_deadline);
    let outcome = tokio::time::timeout_at(
        deadline.instant() + BACKSTOP,
        function.handle(&delivery, deadline),
    )
    .await
    .map_err(|_| ApiError::unavailable())??;
    let body = match outcome {
        HaloOutcome::Ignored(reason) => json!({"status": "ignored", "reason": reason}),
        HaloOutcome::Duplicate => json!({"status": "duplicate"}),
        HaloOutcome::Processed { forwarded, closed } => {
            json!({"status": "processed", "actionsForwarded": forwarded, "closed": closed})
        }
    };
    Ok(HttpResponse::Ok().json(body))
}
