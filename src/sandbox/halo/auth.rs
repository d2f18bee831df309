//! Authentication: the OAuth token endpoint (client credentials), the bearer check on `/api`,
//! and `/api/authinfo`, which tells a client where the token endpoint is.

use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::HaloService;
use super::request::Query;
use crate::sandbox::common::json;

impl HaloService {
    /// `POST /auth/token`: client credentials only; tenant accepted from the form or the query.
    pub(super) fn token(&self, query: &Query, body: &[u8]) -> HttpResponse {
        let form = Query::parse(&String::from_utf8_lossy(body));
        if form.get("grant_type") != Some("client_credentials") {
            return json(400, json!({ "error": "unsupported_grant_type" }));
        }
        let mut state = self.state();
        let cfg = &state.cfg;
        if form.get("client_id") != Some(cfg.client_id.as_str())
            || form.get("client_secret") != Some(cfg.client_secret.as_str())
        {
            return json(
                401,
                json!({
                    "error": "invalid_client",
                    "error_description": "The specified client credentials are invalid.",
                }),
            );
        }
        let ttl = cfg.token_ttl_secs;
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        state
            .tokens
            .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
        let tenant = form.get("tenant").or_else(|| query.get("tenant"));
        tracing::debug!(?tenant, "fake Halo issued a token");
        json(
            200,
            json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": "all",
                "refresh_token": uuid::Uuid::new_v4().simple().to_string(),
                "id_token": uuid::Uuid::new_v4().simple().to_string(),
            }),
        )
    }

    /// Whether the request carries a live bearer token this fake issued.
    pub(super) fn authorized(&self, req: &HttpRequest) -> bool {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        token.is_some_and(|t| self.state().token_is_live(t))
    }
}

/// The answer to an `/api` call without a live token.
pub(super) fn invalid_token() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
        .json(json!({ "error": "invalid_token" }))
}

/// `GET /api/authinfo`: where this fake's authorisation server is (no auth needed).
pub(super) fn authinfo(req: &HttpRequest) -> HttpResponse {
    let conn = req.connection_info();
    let auth_url = format!("{}://{}/auth", conn.scheme(), conn.host());
    json(200, json!({ "auth_url": auth_url, "tenant_id": "" }))
}
