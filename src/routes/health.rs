//! `GET /`: the Functions host's readiness and liveness ping.

use actix_web::HttpResponse;

/// Always 200, at once: readiness must not depend on Halo, ContraForce or Key Vault.
pub async fn ping() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}
