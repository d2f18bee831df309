//! Builds the app from validated settings and owns the listener (port 0 in tests).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::clock::{Clock, SystemClock};
use crate::contraforce::client::ContraForceClient;
use crate::halo::client::HaloClient;
use crate::http::budget::Budget;
use crate::routes;
use crate::secrets::vault::KeyVaultSource;
use crate::secrets::{SecretSource, Secrets};
use crate::settings::{Readiness, Settings, StateKind, StateSettings};
use crate::state::StateStore;
use crate::state::blob::{BlobLocation, BlobStore};
use crate::state::memory::MemoryStore;
use crate::sync::cf_to_halo::CfToHalo;
use crate::sync::halo_to_cf::HaloToCf;
use crate::sync::reconcile::{Reconcile, Wiring};

pub use crate::routes::AppState;

/// Things tests replace.
#[derive(Clone)]
pub struct Overrides {
    /// Time source (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// State store (default: from `STATE_STORE`).
    pub store: Option<Arc<dyn StateStore>>,
    /// Where secrets the environment lacks come from (default: Key Vault when configured).
    pub secret_source: Option<Arc<dyn SecretSource>>,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            store: None,
            secret_source: None,
        }
    }
}

/// The single outbound HTTP client configuration (timeouts on every call).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("cf-halo-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these options always builds")
}

/// Where the `blob` store lives: `STATE_BLOB_URL` wins, then the Function App's own storage
/// account through its managed identity (CONTRACT §5; settings checked that one is present).
pub fn blob_location(state: &StateSettings) -> BlobLocation {
    if let Some(url) = &state.blob_url {
        return BlobLocation::SasUrl(url.expose_secret().to_string());
    }
    let service = match (&state.blob_service_uri, &state.account_name) {
        (Some(uri), _) => uri.clone(),
        (None, Some(account)) => format!("https://{account}.blob.core.windows.net"),
        (None, None) => unreachable!("settings require an endpoint for STATE_STORE=blob"),
    };
    BlobLocation::ManagedIdentity {
        container_url: format!("{}/{}", service.trim_end_matches('/'), state.container),
        client_id: state.storage_client_id.clone(),
    }
}

/// Builds the shared state; no network call is made here.
pub fn app_state(settings: &Settings, overrides: &Overrides) -> std::io::Result<AppState> {
    let store: Arc<dyn StateStore> = match (&overrides.store, &settings.state.kind) {
        (Some(store), _) => store.clone(),
        (None, StateKind::Memory) => Arc::new(MemoryStore::new(settings.state.ledger_ttl)),
        (None, StateKind::Blob) => {
            let store = BlobStore::new(&blob_location(&settings.state), settings.state.ledger_ttl)
                .map_err(std::io::Error::other)?;
            Arc::new(store)
        }
    };
    let secrets =
        secrets(settings, overrides.secret_source.clone()).map_err(std::io::Error::other)?;
    // Reads Key Vault in the background: start-up never waits for it.
    secrets.start();
    let http = http_client();
    // One budget for the process: both functions spend the same Halo allowance.
    let budget = Arc::new(Budget::new(settings.halo_rate_limit));
    let halo = settings
        .halo
        .clone()
        .map(|conn| Arc::new(HaloClient::new(conn, http.clone(), budget, secrets.clone())));
    let deadline = settings.request_deadline;
    let cf_to_halo = settings.cf_to_halo.clone().map(|s| {
        let halo = halo
            .clone()
            .expect("CfToHalo is only configured with a Halo connection");
        Arc::new(CfToHalo::new(
            s,
            halo,
            store.clone(),
            deadline,
            settings.state.ledger_ttl,
        ))
    });
    // One ContraForce client for the process: its route shape, once found, serves everyone.
    let cf = settings.halo_to_cf.as_ref().ok().map(|s| {
        Arc::new(ContraForceClient::new(
            s.cf.clone(),
            http.clone(),
            secrets.clone(),
        ))
    });
    let halo_to_cf = settings.halo_to_cf.clone().map(|s| {
        let halo = halo
            .clone()
            .expect("HaloToCf is only configured with a Halo connection");
        let cf = cf.clone().expect("made for a configured HaloToCf");
        Arc::new(HaloToCf::new(
            s,
            halo,
            cf,
            store.clone(),
            deadline,
            settings.state.ledger_ttl,
        ))
    });
    let reconcile = reconcile_readiness(settings).map(|()| {
        let wiring = Wiring {
            halo: halo
                .clone()
                .expect("Reconcile is only configured with a Halo connection"),
            cf: cf.clone(),
            store: store.clone(),
            rate_limit: settings.halo_rate_limit,
            request_deadline: deadline,
            ledger_ttl: settings.state.ledger_ttl,
        };
        Arc::new(Reconcile::new(
            settings.reconcile.clone(),
            settings.cf_to_halo.clone().ok(),
            settings.halo_to_cf.clone().ok(),
            wiring,
        ))
    });
    Ok(AppState {
        max_body_bytes: settings.max_body_bytes,
        request_deadline: deadline,
        clock: overrides.clock.clone(),
        cf_to_halo,
        halo_to_cf,
        reconcile,
        halo,
        store,
        ledger_ttl: settings.state.ledger_ttl,
        secrets,
    })
}

/// Reconcile runs whatever CfToHalo and HaloToCf have configured; with neither, it names what
/// both miss.
fn reconcile_readiness(settings: &Settings) -> Readiness<()> {
    match (&settings.cf_to_halo, &settings.halo_to_cf) {
        (Err(a), Err(b)) => {
            let mut missing = a.clone();
            missing.extend(b.iter().filter(|n| !a.contains(n)).cloned());
            Err(missing)
        }
        _ => Ok(()),
    }
}

/// The secrets store: the environment's values, then Key Vault (or `source`, in tests) for
/// the rest. Not yet read: call [`Secrets::start`] or [`Secrets::refresh`].
pub fn secrets(
    settings: &Settings,
    source: Option<Arc<dyn SecretSource>>,
) -> Result<Arc<Secrets>, String> {
    let source = match (source, &settings.key_vault) {
        (Some(source), _) => Some(source),
        (None, Some(kv)) => {
            Some(KeyVaultSource::new(&kv.uri, kv.client_id.clone(), None)?.into_source())
        }
        (None, None) => None,
    };
    Ok(Arc::new(Secrets::with_source(
        settings.secret_env.clone(),
        source,
    )))
}

/// The running handler.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Binds `127.0.0.1:{settings.port}` and prepares the server.
    pub fn build(settings: &Settings, overrides: Overrides) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", settings.port))?;
        Self::with_listener(settings, overrides, listener)
    }

    /// Prepares the server on an already bound listener.
    pub fn with_listener(
        settings: &Settings,
        overrides: Overrides,
        listener: TcpListener,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let state = web::Data::new(app_state(settings, &overrides)?);
        let data = state.clone();
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/", web::get().to(routes::health::ping))
                .route(
                    "/api/CfToHalo",
                    web::post().to(routes::cf_to_halo::cf_to_halo),
                )
                .route(
                    "/api/HaloToCf",
                    web::post().to(routes::halo_to_cf::halo_to_cf),
                )
                .route("/Reconcile", web::post().to(routes::reconcile::reconcile))
                .default_service(web::to(not_found))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (for call counts in tests and the demo).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not found"}))
}
