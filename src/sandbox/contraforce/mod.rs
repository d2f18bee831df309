//! A fake ContraForce API: records the comments and status changes the bridge sends.
//!
//! [`FakeContraForce`] is the handle tests and the CLI hold; `routes` takes a request to its
//! handler, and `incidents` keeps what was posted.

mod incidents;
mod routes;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use self::incidents::Records;
use super::common::{self, FakeServer};

/// Service-account client id the fake accepts.
pub const CF_CLIENT_ID: &str = "sandbox-cf-client";
/// Service-account secret the fake accepts.
pub const CF_CLIENT_SECRET: &str = "sandbox-cf-secret";
/// The only workspace the fake knows.
pub const CF_WORKSPACE_ID: &str = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d";

/// A comment posted to an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfComment {
    /// Incident id, percent-decoded.
    pub incident_id: String,
    /// The incident path segment exactly as received (still percent-encoded).
    pub raw_incident_segment: String,
    /// The JSON body.
    pub body: Value,
}

/// A status change sent for an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfStatusUpdate {
    /// Incident id, percent-decoded.
    pub incident_id: String,
    /// The incident path segment exactly as received (still percent-encoded).
    pub raw_incident_segment: String,
    /// The JSON body.
    pub body: Value,
}

/// A running fake ContraForce API; clones share the same server and state.
pub type FakeContraForce = FakeServer<CfService>;

/// What the fake ContraForce's server serves: the comments and status changes it accepted.
#[derive(Default)]
pub struct CfService {
    records: Mutex<Records>,
}

impl CfService {
    fn records(&self) -> MutexGuard<'_, Records> {
        common::lock(&self.records)
    }
}

impl FakeContraForce {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> io::Result<FakeContraForce> {
        FakeContraForce::start_on(0).await
    }

    /// Starts the fake on `port` (0 = a free port).
    pub async fn start_on(port: u16) -> io::Result<FakeContraForce> {
        FakeServer::run(port, CfService::default())
    }

    /// `http://127.0.0.1:PORT/api/v2` (the value for `CF_API_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("{}/api/v2", self.origin())
    }

    /// Accepted service-account client id.
    pub fn client_id(&self) -> String {
        CF_CLIENT_ID.to_owned()
    }

    /// Accepted service-account secret.
    pub fn client_secret(&self) -> String {
        CF_CLIENT_SECRET.to_owned()
    }

    /// The known workspace id.
    pub fn workspace_id(&self) -> String {
        CF_WORKSPACE_ID.to_owned()
    }

    /// Comments accepted so far, oldest first.
    pub fn comments(&self) -> Vec<CfComment> {
        self.service().records().comments.clone()
    }

    /// Status changes accepted so far, oldest first.
    pub fn status_updates(&self) -> Vec<CfStatusUpdate> {
        self.service().records().statuses.clone()
    }
}
