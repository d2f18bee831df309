//! `check-config`: validates every setting, then reaches each configured upstream and prints one
//! `PASS`/`FAIL`/`SKIP` line per check. Exit 0 only when no check failed.
//!
//! The checks are a list of named async functions ([`checks`]); a new backend adds one entry.
//! They run in order and share a [`Ctx`], so a Halo read is skipped when the token failed.
//!
//! Each group of checks has its own file: `settings.rs`, `halo.rs`, `contraforce.rs`,
//! `key_vault.rs`, `state_store.rs`. To add a check, write a `fn(&Ctx) -> CheckFuture<'_>` in
//! its group's file (or in a new file for a new group, declared below), build its result with
//! `pass`, `fail` or `skip`, and add it to [`checks`] where its line should print.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use super::{halo_client, http_client};
use crate::halo::client::HaloClient;
use crate::http::Deadline;
use crate::settings::Settings;

mod contraforce;
mod halo;
mod halo_reference;
mod halo_signature;
mod key_vault;
mod settings;
mod state_store;

const COMMAND: &str = "check-config";
/// Time each upstream check may take.
const CHECK_DEADLINE: Duration = Duration::from_secs(30);

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It works.
    Pass,
    /// It works, at a cost or with a caveat the detail names; the exit code stays 0.
    Warn,
    /// It does not: the exit code is 1.
    Fail,
    /// Not configured, or it depends on a check that failed.
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// A check's result and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Pass, fail or skip.
    pub status: Status,
    /// One line for the operator.
    pub detail: String,
}

/// A passed check.
fn pass(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Pass,
        detail: detail.into(),
    }
}

/// A check that passed with a caveat.
fn warn(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Warn,
        detail: detail.into(),
    }
}

/// A failed check.
fn fail(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Fail,
        detail: detail.into(),
    }
}

/// A skipped check.
fn skip(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Skip,
        detail: detail.into(),
    }
}

/// What the checks share.
pub struct Ctx {
    /// The validated settings.
    pub settings: Settings,
    /// Outbound client for the non-Halo probes.
    pub http: reqwest::Client,
    /// The Halo client, when the connection is configured.
    pub halo: Option<HaloClient>,
    /// Secret values (environment, then Key Vault).
    pub secrets: std::sync::Arc<crate::secrets::Secrets>,
    /// Whether the Halo token check passed.
    halo_token_ok: Mutex<bool>,
}

impl Ctx {
    fn halo_ready(&self) -> Option<&HaloClient> {
        let ok = *self.halo_token_ok.lock().unwrap_or_else(|p| p.into_inner());
        self.halo.as_ref().filter(|_| ok)
    }
}

/// The future a check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;

/// One named check.
pub struct Check {
    /// Shown at the start of its line.
    pub name: &'static str,
    /// The check itself.
    pub run: for<'a> fn(&'a Ctx) -> CheckFuture<'a>,
}

/// Every check, in the order they run and print.
pub fn checks() -> Vec<Check> {
    vec![
        // settings.rs
        Check {
            name: "settings",
            run: settings::settings_valid,
        },
        Check {
            name: "CfToHalo settings",
            run: settings::cf_to_halo_settings,
        },
        Check {
            name: "HaloToCf settings",
            run: settings::halo_to_cf_settings,
        },
        // halo.rs
        Check {
            name: "Halo token",
            run: halo::halo_token,
        },
        Check {
            name: "Halo outcomes",
            run: halo::halo_outcomes,
        },
        Check {
            name: "Halo ticket type",
            run: halo::halo_ticket_type,
        },
        Check {
            name: "Halo priorities",
            run: halo::halo_priorities,
        },
        Check {
            name: "Halo closed statuses",
            run: halo::halo_closed_statuses,
        },
        Check {
            name: "Halo webhook",
            run: halo::halo_webhooks,
        },
        // halo_reference.rs
        Check {
            name: "Halo reference lookup",
            run: halo_reference::reference_filter,
        },
        Check {
            name: "Halo reference field",
            run: halo_reference::custom_field_listing,
        },
        // halo_signature.rs
        Check {
            name: "Halo webhook signature",
            run: halo_signature::signature_form,
        },
        // contraforce.rs
        Check {
            name: "ContraForce API",
            run: contraforce::contraforce_api,
        },
        Check {
            name: "ContraForce workspaces",
            run: contraforce::contraforce_workspaces,
        },
        // key_vault.rs
        Check {
            name: "Key Vault",
            run: key_vault::key_vault,
        },
        // state_store.rs
        Check {
            name: "state store",
            run: state_store::state_store,
        },
    ]
}

/// The deadline of one upstream call.
fn deadline() -> Deadline {
    Deadline::after(CHECK_DEADLINE)
}

/// Whether this process runs where a managed identity is available (App Service / Functions).
fn in_azure() -> bool {
    ["IDENTITY_ENDPOINT", "MSI_ENDPOINT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Runs `check-config`.
pub async fn run() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            println!("{:<4}  {:<22} {e}", Status::Fail, "settings");
            return super::fail(COMMAND, 1, format!("settings are invalid: {e}"));
        }
    };
    let http = http_client();
    // A Key Vault failure is reported by its own check; the others then see no secrets.
    let secrets = match super::load_secrets(&settings).await {
        Ok(s) => s,
        Err(_) => crate::startup::secrets(&settings, None).unwrap_or_else(|_| {
            std::sync::Arc::new(crate::secrets::Secrets::from_env(
                settings.secret_env.clone(),
            ))
        }),
    };
    let halo = halo_client(&settings, http.clone(), secrets.clone()).ok();
    let ctx = Ctx {
        settings,
        http,
        halo,
        secrets,
        halo_token_ok: Mutex::new(false),
    };
    let mut failed = Vec::new();
    let (mut passed, mut warned, mut skipped) = (0, 0, 0);
    for check in checks() {
        let outcome = (check.run)(&ctx).await;
        println!(
            "{:<4}  {:<22} {}",
            outcome.status, check.name, outcome.detail
        );
        match outcome.status {
            Status::Pass => passed += 1,
            Status::Warn => warned += 1,
            Status::Skip => skipped += 1,
            Status::Fail => failed.push(check.name),
        }
    }
    let warned = if warned > 0 {
        format!(", {warned} warned")
    } else {
        String::new()
    };
    println!(
        "\n{passed} passed{warned}, {} failed, {skipped} skipped",
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        super::fail(COMMAND, 1, format!("failed: {}", failed.join(", ")))
    }
}
