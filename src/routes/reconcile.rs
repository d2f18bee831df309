//! `POST /Reconcile`: the timer trigger, called by the Functions host with the JSON invocation
//! protocol (CONTRACT §9.1, reference/azure.md §1.6): `{"Data":{"timer":…},"Metadata":…}` in,
//! `{"Outputs":{},"Logs":[…],"ReturnValue":{…summary…}}` out.

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::{Function, Invocation, Request, invoke};
use crate::error::ApiError;
use crate::secrets::Needs;
use crate::sync::reconcile::{Reconcile, summary_line};

/// Reconcile to the shared preamble: Halo's client secret; ContraForce's when HaloToCf runs.
const RECONCILE: Function<Reconcile> = Function {
    span: |invocation| tracing::info_span!("Reconcile", invocation = %invocation),
    readiness: |app| &app.reconcile,
    needs: Needs {
        required: &["HALO_CLIENT_SECRET"],
        any_of: &[],
        optional: &["CF_SERVICE_ACCOUNT_CLIENT_SECRET"],
    },
};

/// Runs one reconcile pass for the host's timer.
pub async fn reconcile(request: Request) -> Result<HttpResponse, ApiError> {
    invoke(request, &RECONCILE, handle).await
}

async fn handle(call: Invocation<Reconcile>) -> Result<HttpResponse, ApiError> {
    // The trigger is the call itself; the timer's body only says whether the host is late.
    let invocation: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if invocation["Data"]["timer"]["IsPastDue"] == json!(true) {
        tracing::info!("timer is past due");
    }
    let summary = call.function.run().await?;
    let line = summary_line(&summary);
    tracing::info!(
        events_redriven = summary.events_redriven,
        events_failed = summary.events_failed,
        tickets_swept = summary.tickets_swept,
        comments_forwarded = summary.comments_forwarded,
        closes_mirrored = summary.closes_mirrored,
        notes_to_halo = summary.notes_to_halo,
        halo_calls = summary.halo_calls,
        complete = summary.complete,
        "{line}"
    );
    Ok(HttpResponse::Ok().json(json!({
        "Outputs": {},
        "Logs": [line],
        "ReturnValue": summary,
    })))
}
