//! The server scaffolding both fakes run on: one loopback actix-web server per fake, every request
//! through one dispatcher (control endpoints, then the gate, then the fake's API, then the log),
//! and the knobs every fake has.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use super::{Fault, Gate, RecordedRequest};

/// What a fake plugs into [`FakeServer`]: how it reads paths, its control endpoints and its API.
pub(crate) trait Service: Send + Sync + 'static {
    /// Paths starting with this are control endpoints: no gate, no log.
    const CONTROL_PREFIX: &'static str;

    /// The request path as this fake matches it (routing, faults and the control prefix).
    fn path(req: &HttpRequest) -> String;

    /// The JSON body of the `503` answered while the fake is down.
    fn down_body() -> Value;

    /// Answers a control request; `path` is what follows [`Service::CONTROL_PREFIX`].
    fn control(&self, gate: &Gate, method: &str, path: &str, body: &[u8]) -> HttpResponse;

    /// Answers an API request that got past the gate.
    fn serve(&self, req: &HttpRequest, path: &str, body: &[u8]) -> HttpResponse;
}

/// What the server's workers share: the gate and the fake's own state.
struct Served<S> {
    gate: Gate,
    service: S,
}

/// A running fake (see [`FakeHalo`](crate::sandbox::FakeHalo) and
/// [`FakeContraForce`](crate::sandbox::FakeContraForce)); clones share the same server and state.
pub struct FakeServer<S> {
    shared: Arc<Served<S>>,
    port: u16,
    handle: ServerHandle,
}

impl<S> Clone for FakeServer<S> {
    fn clone(&self) -> Self {
        FakeServer {
            shared: self.shared.clone(),
            port: self.port,
            handle: self.handle.clone(),
        }
    }
}

impl<S> FakeServer<S> {
    /// Binds `127.0.0.1:port` (0 = a free port) and serves `service` there on one worker.
    pub(crate) fn run(port: u16, service: S) -> io::Result<FakeServer<S>>
    where
        S: Service,
    {
        let shared = Arc::new(Served {
            gate: Gate::default(),
            service,
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(dispatch::<S>))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", port))?;
        let port = bound_port(&server.addrs())?;
        let handle = spawn(server.run());
        Ok(FakeServer {
            shared,
            port,
            handle,
        })
    }

    /// The fake's own state.
    pub(crate) fn service(&self) -> &S {
        &self.shared.service
    }

    /// The fake's gate: request log and failure knobs.
    pub(crate) fn gate(&self) -> &Gate {
        &self.shared.gate
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (state and request log stay readable).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// Every request so far but the `/_sandbox` control calls, whatever it was answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.gate().requests()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.gate().clear_requests();
    }

    /// Logged requests with this method whose path starts with `path_prefix` (case-insensitive).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.gate().count(method, path_prefix)
    }

    /// Delays every answer but the control endpoints' by `d`.
    pub fn set_delay(&self, d: Duration) {
        self.gate().set_delay(d);
    }

    /// While down, every request but the control calls gets 503.
    pub fn set_down(&self, down: bool) {
        self.gate().set_down(down);
    }

    /// Drops the queued faults that have not fired yet (those set `forever` stay).
    pub fn clear_faults(&self) {
        self.gate().clear_faults();
    }

    /// Queues a fault: the next matching request gets it instead of normal service.
    pub fn push_fault(&self, f: Fault) {
        self.gate().push_fault(f);
    }
}

/// Every request lands here: control endpoints are answered at once; the rest pass the gate, are
/// served, and are logged with the answer they got.
async fn dispatch<S: Service>(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Served<S>>,
) -> HttpResponse {
    let path = S::path(&req);
    let method = req.method().as_str();
    if let Some(control) = path.strip_prefix(S::CONTROL_PREFIX) {
        return shared.service.control(&shared.gate, method, control, &body);
    }
    let response = match shared.gate.intercept(method, &path, S::down_body()).await {
        Some(response) => response,
        None => shared.service.serve(&req, &path, &body),
    };
    shared.gate.record(&req, &body, &response);
    response
}

/// The port a freshly bound server listens on.
pub(crate) fn bound_port(addrs: &[SocketAddr]) -> io::Result<u16> {
    addrs
        .first()
        .map(SocketAddr::port)
        .ok_or_else(|| io::Error::other("server bound no address"))
}

/// Runs a bound server on the current tokio runtime and returns its stop handle.
pub(crate) fn spawn(server: Server) -> ServerHandle {
    let handle = server.handle();
    tokio::spawn(async move {
        if let Err(err) = server.await {
            tracing::warn!(error = %err, "sandbox server stopped with an error");
        }
    });
    handle
}
