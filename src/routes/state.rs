//! What every function's handler shares: the functions, the clock, the secrets and the store.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::halo::client::HaloClient;
use crate::secrets::Secrets;
use crate::settings::Readiness;
use crate::state::StateStore;
use crate::sync::cf_to_halo::CfToHalo;
use crate::sync::halo_to_cf::HaloToCf;
use crate::sync::reconcile::Reconcile;

/// What every request handler shares.
pub struct AppState {
    /// Request body cap.
    pub max_body_bytes: usize,
    /// Upstream time budget per webhook.
    pub request_deadline: Duration,
    /// Time source for signature windows.
    pub clock: Arc<dyn Clock>,
    /// CfToHalo, or its missing settings.
    pub cf_to_halo: Readiness<Arc<CfToHalo>>,
    /// HaloToCf, or its missing settings.
    pub halo_to_cf: Readiness<Arc<HaloToCf>>,
    /// Reconcile, or the settings it misses.
    pub reconcile: Readiness<Arc<Reconcile>>,
    /// The state store (operator commands read it).
    pub store: Arc<dyn StateStore>,
    /// `LEDGER_TTL_DAYS`, for the work records the operator commands read.
    pub ledger_ttl: Duration,
    /// The Halo client both functions share, when configured.
    pub halo: Option<Arc<HaloClient>>,
    /// Secret values (environment, then Key Vault).
    pub secrets: Arc<Secrets>,
}
