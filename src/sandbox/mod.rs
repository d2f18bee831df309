//! In-process fakes of HaloPSA and ContraForce for tests, the `demo` command and the `sandbox` CLI.
//!
//! Both run as actix-web servers on loopback ports, keep their state in memory, record every
//! request, and have knobs for the failures the bridge must survive (delays, outages, faults).

pub mod azurite;
mod common;
pub mod contraforce;
pub mod halo;

pub use common::FakeServer;
pub use contraforce::{
    CfComment, CfStatusUpdate, CommentListShape, CommentTextKey, FakeContraForce, RouteStyle,
    RouteStyles, SignedEvent, SigningFormat, StoredComment,
};
pub use halo::{
    ArrayAnswers, BetweenPages, FakeHalo, FakeHaloConfig, Fault, HaloAction, HaloTicket, IdStyle,
    ListShape, RateLimit, RecordedRequest, WebhookAuth, WebhookResult, WriteFate, WriteKind,
};

/// Both fakes, started together on free loopback ports; clones share the same servers.
#[derive(Clone)]
pub struct Sandbox {
    /// The fake HaloPSA.
    pub halo: FakeHalo,
    /// The fake ContraForce.
    pub cf: FakeContraForce,
}

impl Sandbox {
    /// Starts both fakes with default settings on free ports.
    pub async fn start() -> std::io::Result<Sandbox> {
        Sandbox::start_on(0, 0).await
    }

    /// Starts both fakes on fixed ports (0 = a free port), as the `sandbox` CLI does.
    pub async fn start_on(halo_port: u16, cf_port: u16) -> std::io::Result<Sandbox> {
        let halo = FakeHalo::start_on(halo_port, FakeHaloConfig::default()).await?;
        let cf = match FakeContraForce::start_on(cf_port).await {
            Ok(cf) => cf,
            Err(err) => {
                halo.stop().await;
                return Err(err);
            }
        };
        Ok(Sandbox { halo, cf })
    }

    /// Environment settings `(name, value)` that point the real handler at these fakes.
    pub fn settings(&self) -> Vec<(String, String)> {
        let cfg = self.halo.config();
        [
            ("HALO_AUTH_URL", self.halo.auth_url()),
            ("HALO_API_BASE_URL", self.halo.api_url()),
            ("HALO_CLIENT_ID", cfg.client_id),
            ("HALO_CLIENT_SECRET", cfg.client_secret),
            ("HALO_DEFAULT_TICKETTYPE_ID", "25".to_owned()),
            ("HALO_DEFAULT_CLIENT_ID", "1".to_owned()),
            ("HALO_CLOSED_STATUS_ID", join_ids(&cfg.closed_status_ids)),
            (
                "HALO_INTEGRATION_AGENT_ID",
                cfg.integration_agent_id.to_string(),
            ),
            ("CF_API_BASE_URL", self.cf.base_url()),
            ("CF_SERVICE_ACCOUNT_CLIENT_ID", self.cf.client_id()),
            ("CF_SERVICE_ACCOUNT_CLIENT_SECRET", self.cf.client_secret()),
            ("CF_WORKSPACE_ID", self.cf.workspace_id()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// Stops both servers.
    pub async fn stop(&self) {
        self.halo.stop().await;
        self.cf.stop().await;
    }
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_point_at_the_running_fakes() {
        let sandbox = Sandbox::start().await.expect("sandbox starts");
        let settings: std::collections::HashMap<_, _> = sandbox.settings().into_iter().collect();
        assert_eq!(settings["HALO_API_BASE_URL"], sandbox.halo.api_url());
        assert_eq!(settings["HALO_CLOSED_STATUS_ID"], "9");
        assert_eq!(settings["HALO_INTEGRATION_AGENT_ID"], "12");
        assert!(settings["CF_API_BASE_URL"].ends_with("/api/v2"));
        let token = reqwest::Client::new()
            .post(format!("{}/token", settings["HALO_AUTH_URL"]))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", settings["HALO_CLIENT_ID"].as_str()),
                ("client_secret", settings["HALO_CLIENT_SECRET"].as_str()),
                ("scope", "all"),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(token.status(), 200);
        sandbox.stop().await;
    }
}
