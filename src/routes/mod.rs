//! HTTP in, typed call, typed outcome out. The decisions live in `sync`.

use std::future::Future;
use std::sync::Arc;

use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use futures_util::StreamExt as _;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::secrets::{Needs, Resolved};
use crate::settings::Readiness;

/// Every upstream wait already ends at the deadline and answers with its own `Retry-After`;
/// this outer limit only catches work that somehow did not.
pub const BACKSTOP: std::time::Duration = std::time::Duration::from_millis(500);

pub mod cf_to_halo;
pub mod halo_to_cf;
pub mod health;
pub mod reconcile;
mod state;

pub use state::AppState;

/// What actix hands every function: the request, its body stream, the app.
pub type Request = (HttpRequest, web::Payload, web::Data<AppState>);

/// What the shared preamble needs to know about one function.
pub struct Function<F: 'static> {
    /// Its span, given the host's invocation id: named after the function, with the (empty)
    /// fields its logic records.
    pub span: fn(&str) -> tracing::Span,
    /// Where the app keeps it: ready, or the settings it misses.
    pub readiness: fn(&AppState) -> &Readiness<Arc<F>>,
    /// The secrets it resolves on every request (Key Vault values may have rotated).
    pub needs: Needs,
}

/// What a function's own logic starts from, once the preamble has passed.
pub struct Invocation<F> {
    /// The request, for its headers.
    pub req: HttpRequest,
    /// The app.
    pub app: web::Data<AppState>,
    /// The whole body, within the cap.
    pub body: Bytes,
    /// The configured function.
    pub function: Arc<F>,
    /// Its secrets, resolved for this request.
    pub secrets: Resolved,
}

/// One invocation of `function`, inside its span and [`logged`]: reads the body within the cap,
/// then answers 503 when the function is not configured, then resolves its secrets (in that
/// order), and hands all of it to `handle`. Authenticating the request is `handle`'s job.
pub async fn invoke<F, Fut>(
    (req, payload, app): Request,
    function: &Function<F>,
    handle: impl FnOnce(Invocation<F>) -> Fut,
) -> Result<HttpResponse, ApiError>
where
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let span = (function.span)(&invocation_id(&req));
    let work = async move {
        let body = read_body(&req, payload, app.max_body_bytes).await?;
        let ready = (function.readiness)(&app)
            .as_ref()
            .map_err(|missing| ApiError::NotConfigured(missing.clone()))?
            .clone();
        let secrets = app.secrets.resolve(&function.needs)?;
        handle(Invocation {
            req,
            app,
            body,
            function: ready,
            secrets,
        })
        .await
    };
    logged(span, work).await
}

/// Runs a function's work inside its span, then logs one line with the status and the time.
pub async fn logged(
    span: tracing::Span,
    work: impl Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = work.instrument(span.clone()).await;
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

/// Reads the whole body, refusing more than `cap` bytes before parsing anything.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    cap: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = BytesMut::with_capacity(declared.map_or(8 * 1024, |l| l as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::Malformed { detail: None })?;
        if body.len() + chunk.len() > cap {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A header's bytes when it is present exactly once; a repeated header is ambiguous and
/// counts as absent.
pub fn single_header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a [u8]> {
    let mut values = req.headers().get_all(name);
    let first = values.next()?;
    values.next().is_none().then(|| first.as_bytes())
}

/// The Functions host's invocation id, for the log.
pub fn invocation_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}
